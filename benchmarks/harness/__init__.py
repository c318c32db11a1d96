"""The side-by-side benchmark suite behind ``benchmarks/suite.py`` (issue 20).

Modules: :mod:`.common` (processes, HTTP, PostgreSQL databases), :mod:`.wrk` (the load generator),
:mod:`.kinbase` (kinbase, the real Kinto and the raw ASGI ceiling), :mod:`.peers` (PocketBase and
Parse Server), :mod:`.kinvey` and :mod:`.kinto` (data and workloads of each API), :mod:`.report`
(tables, targets, ``docs/performance.md``), :mod:`.extra` (the ``--soak`` and ``--big`` steps).
"""
