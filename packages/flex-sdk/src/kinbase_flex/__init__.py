"""kinbase-flex: write Kinvey-compatible Flex services in Python.

::

    import kinbase_flex

    flex = kinbase_flex.service(shared_secret="...")
    widgets = flex.data.serviceObject("widgets")

    def get_all(context, complete, modules):
        complete().setBody([{"_id": "1", "name": "gear"}]).ok().next()

    widgets.onGetAll(get_all)
    flex.functions.register("echo", lambda context, complete, modules: complete(context.body).ok().done())

    if __name__ == "__main__":
        flex.run()          # or: kinbase-flex run my_module:flex --port 10001
"""

from __future__ import annotations

from kinbase_flex import _service, protocol
from kinbase_flex._calls import Pending
from kinbase_flex._completion import AuthCompletion, Completion
from kinbase_flex._context import Context
from kinbase_flex._logger import FlexLogger
from kinbase_flex._registry import FlexAuth, FlexData, FlexFunctions, ServiceObject
from kinbase_flex._service import FlexService, service
from kinbase_flex.errors import BackendError, BackendUnavailable, FlexError, ModuleError, QueryError
from kinbase_flex.modules import Modules, Query

__version__ = _service.VERSION

__all__ = [
    "AuthCompletion",
    "BackendError",
    "BackendUnavailable",
    "Completion",
    "Context",
    "FlexAuth",
    "FlexData",
    "FlexError",
    "FlexFunctions",
    "FlexLogger",
    "FlexService",
    "ModuleError",
    "Modules",
    "Pending",
    "Query",
    "QueryError",
    "ServiceObject",
    "__version__",
    "protocol",
    "service",
]
