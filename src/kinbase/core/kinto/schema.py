"""Optional JSON-schema validation of Kinto objects (``schema_validation``).

Records are validated against their collection's ``schema``; collections, groups and records
also against the bucket's ``collection:schema``, ``group:schema`` and ``record:schema``. Compiled
validators are cached by the schema's JSON text.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jsonschema
import orjson
from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.protocols import Validator

from kinbase.core.kinto.errors import InvalidParameter

__all__ = ["check_schema", "validate"]

IGNORED = ("id", "last_modified", "schema")


@lru_cache(maxsize=512)
def _validator(schema_json: str) -> Validator:
    schema = orjson.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema, default=Draft7Validator)
    return cls(schema)


def check_schema(schema: Any, name: str = "data.schema") -> None:
    """Refuse a value that is not a JSON schema.

    Raises:
        InvalidParameter: with the schema error.
    """
    if not isinstance(schema, dict):
        raise InvalidParameter("body", name, "The schema must be a JSON object.")
    try:
        cls = jsonschema.validators.validator_for(schema, default=Draft7Validator)
        cls.check_schema(schema)
    except SchemaError as exc:
        raise InvalidParameter("body", name, f"Invalid JSON schema: {exc.message}") from None


def validate(data: dict[str, Any], schema: dict[str, Any]) -> None:
    """Validate ``data`` (without its server fields) against ``schema``.

    Raises:
        InvalidParameter: naming the offending field.
    """
    stripped = {k: v for k, v in data.items() if k not in IGNORED}
    validator = _validator(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS).decode())
    error: ValidationError | None = jsonschema.exceptions.best_match(validator.iter_errors(stripped))
    if error is None:
        return
    if error.validator == "required" and isinstance(error.validator_value, list):
        missing = [
            f for f in error.validator_value if isinstance(error.instance, dict) and f not in error.instance
        ]
        field = str(missing[0]) if missing else str(error.validator_value[-1])
    elif error.path:
        field = str(error.path[0])
    else:
        field = "data"
    raise InvalidParameter("body", field, error.message)
