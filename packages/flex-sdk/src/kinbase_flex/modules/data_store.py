"""``modules.dataStore``: read and write the backend's collections (``/appdata/<appKey>/<collection>``).

::

    products = modules.dataStore({"useUserContext": True}).collection("products")
    products.findById("1234", callback)           # callback(err, entity)
    entity = await products.findById("1234")      # async handler
    entity = products.findById("1234").result()   # plain handler

By default the calls use the master secret and skip business logic (``x-kinvey-skip-business-logic``).
A call to the collection of the current request with ``useBl`` or ``useUserContext`` is refused
(circular request).
"""

from __future__ import annotations

from typing import Any

from kinbase_flex._calls import Pending
from kinbase_flex.errors import BackendError
from kinbase_flex.modules._store import BackendEnv, BaseStore, StoreOptions, split_callback

__all__ = ["Collection", "DataStore"]

SAVE_BATCH_SIZE = 100


class DataStore(BaseStore):
    """A store with the options it was made with; :meth:`collection` picks the collection."""

    ROUTE = "appdata"
    ERROR = "DataStoreError"

    def collection(self, collection_name: str) -> Collection:
        return Collection(self._env, self._options, collection_name)


class Collection(BaseStore):
    """``save``, ``findById``, ``find``, ``removeById``, ``remove`` and ``count`` on one collection."""

    ROUTE = "appdata"
    ERROR = "DataStoreError"

    def __init__(self, env: BackendEnv, options: StoreOptions, collection_name: str) -> None:
        super().__init__(env, options)
        self.collectionName = collection_name

    def _circular(self) -> str | None:
        if self._env.object_name == self.collectionName and (
            self._options.use_bl or self._options.use_user_context
        ):
            return "Recursive data operations to the same collection cannot use user context or use BL."
        return None

    def _call(self, method: str, suffix: str, callback: Any, **kwargs: Any) -> Pending[Any]:
        return self._send(
            method, self._url(self.collectionName, suffix), callback, refuse=self._circular, **kwargs
        )

    def save(self, entity: Any, callback: Any = None) -> Pending[Any]:
        """Insert (``POST``), or replace the entity with its ``_id`` (``PUT``). A list is a
        multi-insert; more than 100 entities go in batches and give ``{entities, errors}``."""
        entity, callback = split_callback(entity, callback)
        if not entity:
            return self._fail("Bad Request", "entity is required", callback)
        if isinstance(entity, list):
            if len(entity) > SAVE_BATCH_SIZE:
                return self._save_batches(entity, callback)
            return self._call("POST", "", callback, body=entity)
        if isinstance(entity, dict) and entity.get("_id"):
            return self._call("PUT", str(entity["_id"]), callback, body=entity)
        return self._call("POST", "", callback, body=entity)

    def _save_batches(self, entities: list[Any], callback: Any) -> Pending[Any]:
        reason = self._circular()
        if reason is not None:
            return self._fail("Not Allowed", reason, callback)
        runtime = self._env.runtime
        url = self._url(self.collectionName)
        headers = self._headers()

        async def call() -> Any:
            total: list[Any] = []
            errors: list[Any] = []
            for number, start in enumerate(range(0, len(entities), SAVE_BATCH_SIZE)):
                batch = entities[start : start + SAVE_BATCH_SIZE]
                body = await runtime.request("POST", url, headers=headers, body=batch)
                if not isinstance(body, dict):
                    raise BackendError(200, body)
                total.extend(body.get("entities") or [])
                for error in body.get("errors") or []:
                    if isinstance(error, dict) and isinstance(error.get("index"), int):
                        error["index"] += SAVE_BATCH_SIZE * number
                    errors.append(error)
            return {"entities": total, "errors": errors}

        if not self._env.baas_url:
            return self._send("POST", url, callback)
        return runtime.submit(call, callback)

    def findById(self, entity_id: Any, callback: Any = None) -> Pending[Any]:
        entity_id, callback = split_callback(entity_id, callback)
        if not entity_id:
            return self._fail("Bad Request", "entityId is required", callback)
        return self._call("GET", str(entity_id), callback)

    def find(self, query: Any = None, callback: Any = None) -> Pending[Any]:
        """The entities matching ``query`` (a ``modules.Query``); all of them without one."""
        query, callback = split_callback(query, callback)
        return self._call("GET", "", callback, params=self._query_params(query))

    def removeById(self, entity_id: Any, callback: Any = None) -> Pending[Any]:
        entity_id, callback = split_callback(entity_id, callback)
        if not entity_id:
            return self._fail("Bad Request", "entityId is required", callback)
        return self._call("DELETE", str(entity_id), callback)

    def remove(self, query: Any = None, callback: Any = None) -> Pending[Any]:
        query, callback = split_callback(query, callback)
        return self._call("DELETE", "", callback, params=self._query_params(query))

    def count(self, query: Any = None, callback: Any = None) -> Pending[Any]:
        """``{"count": n}``."""
        query, callback = split_callback(query, callback)
        return self._call("GET", "_count/", callback, params=self._query_params(query))

    find_by_id = findById
    remove_by_id = removeById

    @property
    def collection_name(self) -> str:
        return self.collectionName
