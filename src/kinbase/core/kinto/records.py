"""Records: optional JSON-schema validation against the collection (and the bucket's
``record:schema``); a valid record carries ``schema`` = the collection's timestamp."""

from __future__ import annotations

from kinbase.core.ids import uuid4
from kinbase.core.kinto.collections import bucket_schema
from kinbase.core.kinto.context import KintoContext
from kinbase.core.kinto.hooks import Hooks
from kinbase.core.kinto.model import Target
from kinbase.core.kinto.schema import validate
from kinbase.core.kinto.store import Loaded
from kinbase.storage.base import StoredObject, Writer
from kinbase.types import Document

__all__ = ["RecordHooks"]


class RecordHooks(Hooks):
    resource = "record"

    def new_id(self) -> str:
        return uuid4()

    async def prepare(
        self,
        ctx: KintoContext,
        writer: Writer,
        target: Target,
        data: Document,
        current: StoredObject | None,
        ancestors: dict[str, Loaded],
    ) -> Document:
        if not ctx.config.schema_validation:
            return data
        collection = ancestors.get("collection")
        if collection is not None and collection.obj is not None:
            meta = collection.document()
            own_schema = meta.get("schema")
            if isinstance(own_schema, dict):
                validate(data, own_schema)
                data["schema"] = collection.obj.stamp
        schema = bucket_schema(ancestors, "record:schema")
        if schema is not None:
            validate(data, schema)
        return data
