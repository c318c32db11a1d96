"""Pure parts of the Kinto core: settings, principals, inheritance, patches, schemas, ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from kinbase.core.kinto.acl import acl_of, allowed, render_acl
from kinbase.core.kinto.config import KINTO_SETTINGS, KintoConfig, parse_config
from kinbase.core.kinto.default_bucket import default_bucket_id
from kinbase.core.kinto.errors import InvalidParameter
from kinbase.core.kinto.model import Target, from_kinto, to_kinto
from kinbase.core.kinto.patch import apply_json_patch, merge_patch
from kinbase.core.kinto.schema import check_schema, validate
from kinbase.errors import ConfigurationError

ALICE = frozenset({"system.Everyone", "system.Authenticated", "user:alice"})


def test_settings_parse_and_override() -> None:
    config = parse_config({"batch_max_requests": 10, "bucket_create_principals": "account:a, account:b"})
    assert config.batch_max_requests == 10 and config.bucket_create_principals == ("account:a", "account:b")
    config = parse_config({"readonly": False}, {"readonly": True})
    assert config.readonly is True
    config = parse_config({"root_principals": {"collection_read_principals": ["system.Everyone"]}})
    assert config.settings_principals("collection", "read") == ("system.Everyone",)
    assert parse_config({"paginate_by": 5}).page_cap == 5 and KintoConfig().page_cap == 10000


@pytest.mark.parametrize(
    "bad",
    [
        {"nope": 1},
        {"readonly": "yes"},
        {"batch_max_requests": 0},
        {"bcrypt_rounds": 3},
        {"auth_policies": ["ldap"]},
        {"root_principals": {"bogus": ["x"]}},
        {"bucket_create_principals": [1]},
    ],
)
def test_settings_errors(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        parse_config(bad)


def test_every_kinto_setting_is_documented() -> None:
    docs = (Path(__file__).parents[3] / "docs" / "settings.md").read_text()
    for setting in KINTO_SETTINGS:
        assert f"`{setting.name}`" in docs, setting.name


@pytest.mark.parametrize(
    ("kinto", "shared"),
    [
        ("account:alice", "user:alice"),
        ("/buckets/b/groups/g", "group:/buckets/b/groups/g"),
        ("system.Everyone", "system.Everyone"),
        ("basicauth:abc", "basicauth:abc"),
        ("user:sneaky", "kinto:user:sneaky"),
    ],
)
def test_principal_mapping(kinto: str, shared: str) -> None:
    assert from_kinto(kinto) == shared and to_kinto(shared) == kinto


def test_inheritance() -> None:
    config = KintoConfig()
    bucket_writer = {"bucket": {"write": frozenset({"user:alice"})}}
    assert allowed(config, ALICE, "record", "write", bucket_writer)
    assert allowed(config, ALICE, "collection", "record:create", bucket_writer)
    reader = {"bucket": {"read": frozenset({"user:alice"})}}
    assert allowed(config, ALICE, "record", "read", reader)
    assert not allowed(config, ALICE, "record", "write", reader)
    creator = {"collection": {"record:create": frozenset({"system.Authenticated"})}}
    assert allowed(config, ALICE, "collection", "read:attributes", creator)
    assert not allowed(config, ALICE, "collection", "read", creator)
    assert allowed(config, ALICE, "bucket", "create", {})
    assert not allowed(config, frozenset({"system.Everyone"}), "bucket", "create", {})
    assert allowed(config, frozenset({"system.Everyone"}), "account", "create", {})


def test_acl_rendering_skips_membership() -> None:
    acl = acl_of([("read", "user:bob"), ("member", "user:carol"), ("write", "group:/buckets/b/groups/g")])
    assert render_acl(acl) == {"read": ["account:bob"], "write": ["/buckets/b/groups/g"]}


def test_merge_patch() -> None:
    assert merge_patch({"a": 1, "b": {"c": 1, "d": 2}}, {"a": None, "b": {"c": 3}, "e": [1]}) == {
        "b": {"c": 3, "d": 2},
        "e": [1],
    }


def test_json_patch_operations() -> None:
    doc = {"data": {"a": [1, 2], "b": {"c": 1}}, "permissions": {"read": [], "write": []}}
    ops = [
        {"op": "add", "path": "/data/a/-", "value": 3},
        {"op": "add", "path": "/data/a/0", "value": 0},
        {"op": "remove", "path": "/data/a/1"},
        {"op": "replace", "path": "/data/b/c", "value": 2},
        {"op": "copy", "from": "/data/b", "path": "/data/copy"},
        {"op": "move", "from": "/data/copy", "path": "/data/moved"},
        {"op": "test", "path": "/data/moved/c", "value": 2},
        {"op": "add", "path": "/permissions/write/account:bob"},
        {"op": "add", "path": "/permissions/record:create/account:bob", "value": "account:bob"},
        {"op": "add", "path": "/data/x~1y", "value": 1},
    ]
    result = apply_json_patch(doc, ops)
    assert result["data"] == {"a": [0, 2, 3], "b": {"c": 2}, "moved": {"c": 2}, "x/y": 1}
    assert result["permissions"]["write"] == ["account:bob"]
    assert result["permissions"]["record:create"] == ["account:bob"]
    assert doc["data"]["a"] == [1, 2]


@pytest.mark.parametrize(
    "ops",
    [
        {"op": "add"},
        [{"op": "nope", "path": "/data/a"}],
        [{"op": "remove", "path": "/data/missing"}],
        [{"op": "replace", "path": "/data/missing", "value": 1}],
        [{"op": "add", "path": "/data/a/9", "value": 1}],
        [{"op": "add", "path": "/permissions/record:create/account:bob"}],
        [{"op": "move", "from": "/data", "path": "/data/inner"}],
        [{"op": "add", "path": "data", "value": 1}],
        [{"op": "remove", "path": ""}],
    ],
)
def test_json_patch_errors(ops: object) -> None:
    with pytest.raises(InvalidParameter):
        apply_json_patch({"data": {"a": [1]}, "permissions": {}}, ops)


def test_schema_validation() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    validate({"n": 1, "id": "x", "last_modified": 1}, schema)
    with pytest.raises(InvalidParameter) as exc:
        validate({"n": "x"}, schema)
    assert exc.value.name == "n"
    with pytest.raises(InvalidParameter) as exc:
        validate({}, schema)
    assert exc.value.name == "n"
    with pytest.raises(InvalidParameter):
        check_schema({"type": 3})
    with pytest.raises(InvalidParameter):
        check_schema([])


def test_default_bucket_ids_are_stable_and_distinct() -> None:
    a = default_bucket_id(b"secret", "account:alice")
    assert a == default_bucket_id(b"secret", "account:alice") and len(a) == 36
    assert a != default_bucket_id(b"secret", "account:bob")
    assert a != default_bucket_id(b"other", "account:alice")


def test_target_uris_and_ids() -> None:
    record = Target("record", "b", "c", "r")
    assert record.uri == "/buckets/b/collections/c/records/r" and record.parent_name == "b/c"
    assert record.ids() == {"bucket_id": "b", "collection_id": "c", "record_id": "r"}
    assert Target("group", "b", id="g").ids() == {"bucket_id": "b", "group_id": "g"}
    assert Target("bucket", id="b").uri == "/buckets/b"
    assert Target("account", id="a").uri == "/accounts/a"
