"""The ``complete`` argument of a handler: a builder that sets the reply and ends the request.

``complete(body)`` (or ``complete()``) starts a reply; ``setBody``, ``setQuery`` (FlexFunctions), a
status function and finally ``done()`` or ``next()`` build and send it, as in the Node SDK::

    complete().setBody(entity).created().done()
    complete(entity).ok().next()
    complete().setBody("Record 123 was not found").notFound().done()

Every camelCase method has a snake_case twin (``set_body``, ``not_found``, ``runtime_error``...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

from kinbase_flex._context import TaskState
from kinbase_flex._jsutil import dumps, normalize_error, truthy
from kinbase_flex.protocol import ERROR_BODIES

__all__ = ["AuthCompletion", "Completion", "auth_complete_factory", "complete_factory"]


def _first_truthy(*values: Any) -> Any:
    for value in values:
        if truthy(value):
            return value
    return values[-1]


class Completion:
    """The reply builder of FlexData and FlexFunctions handlers."""

    def __init__(self, state: TaskState, update_request_body: bool, body: Any = None) -> None:
        self._state = state
        self._update_request_body = update_request_body
        self._result: dict[str, Any] = {}
        self.setBody(body)

    # -- content ------------------------------------------------------------------------------

    def setBody(self, body: Any = None) -> Self:
        """Set the entity, the list of entities, or the error text/exception of the reply."""
        if body is not None:
            self._result["body"] = body
        return self

    def setQuery(self, query: Any) -> Self:
        """Replace the request's query (useful in a pre hook followed by ``next()``).

        ``query`` is an object of query parameters such as ``{"query": {"a": 1}, "sort": {"b": -1}}``
        (``query`` and ``sort`` objects are sent as JSON strings), or a ``modules.Query``.
        """
        if hasattr(query, "toQueryString"):
            query = query.toQueryString()
        if truthy(query):
            if isinstance(query, dict):
                query = dict(query)
                for key in ("query", "sort"):
                    value = query.get(key)
                    if truthy(value) and isinstance(value, dict | list):
                        query[key] = dumps(value).decode()
            self._result["query"] = query
        return self

    # -- status -------------------------------------------------------------------------------

    def _status(self, code: int) -> Self:
        self._result["statusCode"] = code
        return self

    def ok(self) -> Self:
        """200."""
        return self._status(200)

    def created(self) -> Self:
        """201."""
        return self._status(201)

    def accepted(self) -> Self:
        """202."""
        return self._status(202)

    def _error(self, function: str, debug: Any) -> Self:
        status, error, description = ERROR_BODIES[function]
        self._result["statusCode"] = status
        self._result["body"] = {
            "error": error,
            "description": description,
            "debug": _first_truthy(normalize_error(debug), normalize_error(self._result.get("body")), {}),
        }
        return self

    def notFound(self, debug: Any = None) -> Self:
        """404 ``NotFound``; ``debug`` (or the body set before) becomes the error's ``debug``."""
        return self._error("notFound", debug)

    def badRequest(self, debug: Any = None) -> Self:
        """400 ``BadRequest``."""
        return self._error("badRequest", debug)

    def unauthorized(self, debug: Any = None) -> Self:
        """401 ``InvalidCredentials``."""
        return self._error("unauthorized", debug)

    def forbidden(self, debug: Any = None) -> Self:
        """403 ``Forbidden``."""
        return self._error("forbidden", debug)

    def notAllowed(self, debug: Any = None) -> Self:
        """405 ``NotAllowed``."""
        return self._error("notAllowed", debug)

    def notImplemented(self, debug: Any = None) -> Self:
        """501 ``NotImplemented``."""
        return self._error("notImplemented", debug)

    def runtimeError(self, debug: Any = None) -> Self:
        """550 ``FlexRuntimeError``."""
        return self._error("runtimeError", debug)

    # -- end ----------------------------------------------------------------------------------

    def done(self) -> None:
        """Send the reply and stop the request pipeline (``response.continue = false``)."""
        state = self._state
        if not state.claim():
            return
        result = self._result
        response = state.task["response"]
        response["body"] = _first_truthy(result.get("body"), response.get("body"))
        response["statusCode"] = result.get("statusCode") or 200
        response["continue"] = False
        state.resolve()

    def next(self) -> None:
        """Send the reply and let the backend continue the pipeline (``response.continue = true``).

        In a pre hook the body and query replace the request's; otherwise the body is the response's.
        """
        state = self._state
        if not state.claim():
            return
        result = self._result
        task = state.task
        response = task["response"]
        if self._update_request_body:
            request = task["request"]
            request["body"] = _first_truthy(result.get("body"), request.get("body"))
            query = _first_truthy(result.get("query"), request.get("query"))
            if query is not None:
                request["query"] = query
                request["params"] = query
        else:
            response["body"] = _first_truthy(result.get("body"), response.get("body"))
        response["statusCode"] = result.get("statusCode") or 200
        response["continue"] = True
        state.resolve()

    set_body = setBody
    set_query = setQuery
    not_found = notFound
    bad_request = badRequest
    not_allowed = notAllowed
    not_implemented = notImplemented
    runtime_error = runtimeError


class AuthCompletion:
    """The reply builder of FlexAuth handlers."""

    def __init__(self, state: TaskState, token: Any = None) -> None:
        self._state = state
        self._token = token
        self._response: dict[str, Any] = state.task["response"]
        self._response["body"] = {"token": {}, "authenticated": False}
        self.setToken(token)

    def setToken(self, token: Any = None) -> Self:
        """The token for the user: a JSON object or a base64 string."""
        if truthy(token):
            self._response["body"]["token"] = token
        return self

    def addAttribute(self, key: str, value: Any) -> Self:
        """Add a top-level attribute to the reply."""
        body = self._response.get("body")
        if not isinstance(body, dict):
            body = self._response["body"] = {}
        body[key] = value
        return self

    def removeAttribute(self, key: str) -> Self:
        """Remove an attribute added before."""
        body = self._response.get("body")
        if isinstance(body, dict):
            body.pop(key, None)
        return self

    def ok(self) -> Self:
        """200 and ``authenticated: true``."""
        self._response["statusCode"] = 200
        body = self._response["body"]
        if isinstance(body, dict):
            body["authenticated"] = True
        return self

    def _oauth_error(self, error: str, debug: Any) -> Self:
        self._response["statusCode"] = 401
        body: dict[str, Any] = {"error": error}
        description = _first_truthy(normalize_error(debug), normalize_error(self._token))
        if description is not None:
            body["error_description"] = description
        self._response["body"] = body
        return self

    def serverError(self, debug: Any = None) -> Self:
        """401 ``server_error``."""
        return self._oauth_error("server_error", debug)

    def accessDenied(self, debug: Any = None) -> Self:
        """401 ``access_denied``."""
        return self._oauth_error("access_denied", debug)

    def temporarilyUnavailable(self, debug: Any = None) -> Self:
        """401 ``temporarily_unavailable``."""
        return self._oauth_error("temporarily_unavailable", debug)

    def notImplemented(self, debug: Any = None) -> Self:
        """401 ``server_error`` saying the handler is not implemented."""
        self._response["statusCode"] = 401
        self._response["body"] = {
            "error": "server_error",
            "error_description": "The request invoked a method that is not implemented",
        }
        return self

    def _end(self) -> None:
        state = self._state
        if not state.claim():
            return
        if not self._response.get("statusCode"):
            self._response["statusCode"] = 200
        self._response["continue"] = False
        state.resolve()

    def next(self) -> None:
        """Send the reply."""
        self._end()

    def done(self) -> None:
        """Send the reply."""
        self._end()

    set_token = setToken
    add_attribute = addAttribute
    remove_attribute = removeAttribute
    server_error = serverError
    access_denied = accessDenied
    temporarily_unavailable = temporarilyUnavailable
    not_implemented = notImplemented


def complete_factory(state: TaskState, update_request_body: bool) -> Callable[..., Completion]:
    """The ``complete`` function handed to a FlexData or FlexFunctions handler."""

    def complete(body: Any = None) -> Completion:
        return Completion(state, update_request_body, body)

    return complete


def auth_complete_factory(state: TaskState) -> Callable[..., AuthCompletion]:
    """The ``complete`` function handed to a FlexAuth handler."""

    def complete(token: Any = None) -> AuthCompletion:
        return AuthCompletion(state, token)

    return complete
