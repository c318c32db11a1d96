"""The side-by-side benchmark suite behind ``benchmarks/suite.py`` (issue 20).

Modules: :mod:`.common` (processes, HTTP, PostgreSQL databases), :mod:`.wrk` (the load generator),
:mod:`.kinbase` (kinbase, the real Kinto and the raw ASGI ceiling), :mod:`.peers` (PocketBase and
Parse Server), :mod:`.kinvey` and :mod:`.kinto` (data and workloads of each API), :mod:`.report`
(the generated blocks of ``docs/performance.md``, assembled from :mod:`.tables`: medians, ratios,
cores busy; :mod:`.goals`: the issue-20 targets and their bounds; :mod:`.machine`: the machine and
the versions), :mod:`.extra` (the ``--soak`` and ``--big`` steps).
"""
