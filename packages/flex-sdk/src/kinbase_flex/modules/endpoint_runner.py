"""``modules.endpointRunner``: call a custom endpoint of the backend (``/rpc/<appKey>/custom/<name>``)."""

from __future__ import annotations

from typing import Any

from kinbase_flex._calls import Pending
from kinbase_flex.modules._store import BackendEnv, BaseStore, StoreOptions

__all__ = ["Endpoint", "EndpointRunner"]


class EndpointRunner(BaseStore):
    """Endpoints always run their business logic; calling the endpoint being served is refused."""

    ROUTE = "rpc"
    ERROR = "EndpointRunnerError"

    def endpoint(self, endpoint_name: str) -> Endpoint:
        return Endpoint(self._env, self._options, endpoint_name)


class Endpoint(BaseStore):
    ROUTE = "rpc"
    ERROR = "EndpointRunnerError"

    def __init__(self, env: BackendEnv, options: StoreOptions, endpoint_name: str) -> None:
        super().__init__(env, options)
        self.endpointName = endpoint_name

    def _circular(self) -> str | None:
        if self._env.object_name == self.endpointName and self._env.hook_type == "customEndpoint":
            return "Recursive requests to the same endpoint are prohibited."
        return None

    def execute(self, body: Any = None, callback: Any = None) -> Pending[Any]:
        """``POST`` ``body`` (default ``{}``) to the endpoint; the result is the endpoint's reply."""
        if callback is None and callable(body):
            body, callback = None, body
        return self._send(
            "POST", self._url("custom", self.endpointName), callback, body=body or {}, refuse=self._circular
        )
