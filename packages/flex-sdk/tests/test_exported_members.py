"""The public surface of kinbase_flex is what ``__all__`` says, and ``__all__`` is sorted."""

from __future__ import annotations

import kinbase_flex
import kinbase_flex.modules
import kinbase_flex.protocol
import kinbase_flex.testing


def test_all_is_the_public_surface() -> None:
    import inspect

    public = {
        name
        for name in dir(kinbase_flex)
        if not name.startswith(("_", "@"))
        and name != "annotations"
        and not inspect.ismodule(getattr(kinbase_flex, name))
    }
    assert set(kinbase_flex.__all__) - {"__version__", "protocol"} == public
    assert kinbase_flex.__all__ == sorted(kinbase_flex.__all__)


def test_every_exported_name_exists() -> None:
    for module in (kinbase_flex, kinbase_flex.modules, kinbase_flex.protocol, kinbase_flex.testing):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_version() -> None:
    assert kinbase_flex.__version__ == kinbase_flex.service().version


def test_the_sdk_does_not_import_the_server() -> None:
    import subprocess
    import sys

    code = "import sys, kinbase_flex, kinbase_flex.testing, kinbase_flex.cli; print('kinbase' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        == "False\n"
    )
