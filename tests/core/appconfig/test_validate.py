"""Parsing and validating app configuration files: the issue's example, every kind of refusal
(with key and line), and the round trip through the stored document and the exported TOML."""

from __future__ import annotations

import pytest

from kinbase.core.appconfig import AppConfigInvalid, from_document, parse_toml, render_toml
from kinbase.core.appconfig.model import DataLink, FlexAuthRef, FunctionRef

EXAMPLE = """\
[flex_services.billing]                 # a Flex service: base URL and shared secret (X-Auth-Key)
url = "http://127.0.0.1:10001"
secret = "s3cret"
timeout_seconds = 10                    # optional

[collections.orders]                    # any collection setting that exists today, e.g.
delta_set = true
permissions = "shared"
indexes = [["status", "n"], ["owner.id"]]
auto_index = true

[collections.invoices]                  # a collection backed by a Flex service object
data_link = { service = "billing", service_object = "invoices" }

[collections.orders.hooks]              # pre_save, post_save, pre_fetch, post_fetch, pre_delete, post_delete
pre_save = { service = "billing", function = "validateOrder" }

[endpoints.checkout]                    # POST /rpc/APP_KEY/custom/checkout
service = "billing"
function = "checkout"

[auth.default]                          # the app's default Mobile Identity Connect auth service (login issue)
flex_auth = { service = "billing", handler = "login" }
redirect_uris = ["https://app.example.com/callback"]

[schedules.nightly]                     # cron in UTC
service = "billing"
function = "closeDay"
cron = "0 3 * * *"
"""


def test_the_issue_example() -> None:
    config = parse_toml(EXAMPLE)
    billing = config.flex_services["billing"]
    assert (billing.url, billing.secret, billing.timeout) == ("http://127.0.0.1:10001", "s3cret", 10.0)
    orders = config.collections["orders"]
    assert (orders.delta_set, orders.permissions, orders.auto_index) == (True, "shared", True)
    assert orders.indexes == (("status", "n"), ("owner.id",))
    assert orders.hooks == {"pre_save": FunctionRef("billing", "validateOrder")}
    assert config.collections["invoices"].data_link == DataLink("billing", "invoices")
    assert config.endpoints["checkout"].function == "checkout"
    assert config.auth["default"].flex_auth == FlexAuthRef("billing", "login")
    assert config.auth["default"].redirect_uris == ("https://app.example.com/callback",)
    assert config.schedules["nightly"].cron == "0 3 * * *"


def test_document_and_toml_round_trips() -> None:
    config = parse_toml(EXAMPLE)
    assert from_document(config.document()) == config
    assert parse_toml(render_toml(config, header="exported\nagain")) == config
    stored = config.stored_document()
    assert "delta_set" not in str(stored) and "indexes" not in str(stored)
    assert stored["collections"]["orders"] == {
        "hooks": {"pre_save": {"service": "billing", "function": "validateOrder"}}
    }
    assert config.collection_settings() == {
        "invoices": {},
        "orders": {
            "delta_set": True,
            "permissions": "shared",
            "indexes": [["status", "n"], ["owner.id"]],
            "auto_index": True,
        },
    }


def _problems(text: str) -> list[str]:
    with pytest.raises(AppConfigInvalid) as refused:
        parse_toml(text)
    assert "nothing was applied" in refused.value.message
    return [str(p) for p in refused.value.problems]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            EXAMPLE.replace(
                'service = "billing", function = "validateOrder"', 'service = "bill", function = "v"'
            ),
            [
                "line 16: collections.orders.hooks.pre_save.service: names the Flex service 'bill', which "
                "[flex_services] does not declare (billing)"
            ],
            id="unknown-service-in-hook",
        ),
        pytest.param(
            EXAMPLE.replace('data_link = { service = "billing"', 'data_link = { service = "other"'),
            [
                "line 13: collections.invoices.data_link.service: names the Flex service 'other', which "
                "[flex_services] does not declare (billing)"
            ],
            id="unknown-service-in-data-link",
        ),
        pytest.param(
            EXAMPLE.replace('secret = "s3cret"\n', ""),
            ["line 1: flex_services.billing: missing required key 'secret'"],
            id="missing-key",
        ),
        pytest.param(
            EXAMPLE.replace("timeout_seconds = 10 ", 'timeout_seconds = "10"'),
            ["line 4: flex_services.billing.timeout_seconds: expected a number, got a string"],
            id="wrong-type",
        ),
        pytest.param(
            EXAMPLE.replace("delta_set = true", 'delta_set = "yes"'),
            ["line 7: collections.orders.delta_set: expected true or false, got a string"],
            id="wrong-type-bool",
        ),
        pytest.param(
            EXAMPLE.replace('permissions = "shared"', 'permissions = "public"'),
            [
                "line 8: collections.orders.permissions: must be one of private, shared, readonly, full, "
                "got 'public'"
            ],
            id="bad-choice",
        ),
        pytest.param(
            EXAMPLE.replace('cron = "0 3 * * *"', 'cron = "0 3 * *"'),
            [
                "line 29: schedules.nightly.cron: '0 3 * *' is not a cron expression: 5 fields (minute hour "
                "day month weekday), or 6 with a leading seconds field"
            ],
            id="bad-cron",
        ),
        pytest.param(
            EXAMPLE.replace("delta_set = true", "delta_sets = true"),
            [
                "line 7: collections.orders.delta_sets: unknown key 'delta_sets' (allowed here: delta_set, "
                "deleted_ttl_days, permissions, data_link, hooks, indexes, auto_index)"
            ],
            id="unknown-key",
        ),
        pytest.param(
            EXAMPLE.replace('["owner.id"]', '["owner..id"]'),
            ["line 9: collections.orders.indexes[1][0]: Invalid field name 'owner..id': empty path segment."],
            id="bad-index-field",
        ),
        pytest.param(
            EXAMPLE.replace("pre_save = {", "on_save = {"),
            [
                "line 16: collections.orders.hooks.on_save: unknown key 'on_save' (allowed here: pre_save, "
                "post_save, pre_fetch, post_fetch, pre_delete, post_delete)"
            ],
            id="unknown-hook",
        ),
        pytest.param(
            EXAMPLE.replace('url = "http://127.0.0.1:10001"', 'url = "ftp://host"'),
            [
                "line 2: flex_services.billing.url: 'ftp://host' is not an http:// or https:// URL "
                "without query"
            ],
            id="bad-url",
        ),
        pytest.param(
            EXAMPLE.replace("[endpoints.checkout]", '[endpoints."check out"]'),
            [
                "line 18: endpoints.\"check out\": invalid name 'check out': use up to 64 letters, digits, "
                "'_', '.' or '-'"
            ],
            id="bad-name",
        ),
        pytest.param(
            EXAMPLE.replace("flex_auth = {", "user_store = true\nflex_auth = {"),
            [
                "line 22: auth.default: give exactly one identity source: flex_auth = {service, handler} or "
                "user_store = true"
            ],
            id="two-identity-sources",
        ),
        pytest.param(
            EXAMPLE + "\n[collections.invoices.hooks]\n",
            [],
            id="empty-hooks-table-is-fine",
        ),
        pytest.param(
            EXAMPLE.replace(
                'data_link = { service = "billing", service_object = "invoices" }',
                'data_link = { service = "billing", service_object = "invoices" }\ndelta_set = true',
            ),
            [
                "line 14: collections.invoices.delta_set: a collection with a data_link keeps no data "
                "in kinbase"
            ],
            id="data-link-with-delta-set",
        ),
        pytest.param(
            "[collections.user]\ndelta_set = true\n",
            ["line 1: collections.user: invalid collection name: Use the user API for 'user'."],
            id="reserved-collection",
        ),
        pytest.param("[flex_services\nurl=1", ["line 1: (file): not valid TOML"], id="not-toml"),
        pytest.param(
            'flex_services = "x"',
            ["line 1: flex_services: expected a table of Flex services, got a string"],
            id="section-type",
        ),
        pytest.param("[webhooks.x]\n", ["line 1: webhooks: unknown key 'webhooks'"], id="unknown-section"),
    ],
)
def test_refusals_name_the_key_and_the_line(text: str, expected: list[str]) -> None:
    if not expected:
        parse_toml(text)
        return
    problems = _problems(text)
    assert len(problems) == len(expected), problems
    for got, want in zip(problems, expected, strict=True):
        assert got.startswith(want), (got, want)


def test_every_problem_is_reported_in_line_order() -> None:
    text = EXAMPLE.replace('secret = "s3cret"\n', "").replace('permissions = "shared"', "permissions = 3")
    text = text.replace('function = "closeDay"', "")
    problems = _problems(text)
    assert [p.split(":")[0] for p in problems] == ["line 1", "line 7", "line 25"]


def test_push_and_schedule_options() -> None:
    config = parse_toml(
        EXAMPLE
        + """
[schedules.tick]
service = "billing"
function = "tick"
cron = "*/2 * * * * *"
body = { reason = "tick", n = 1 }
enabled = false

[push.fcm]
project_id = "p"
client_email = "sa@p.iam.gserviceaccount.com"
private_key = \"\"\"-----BEGIN PRIVATE KEY-----
abc
-----END PRIVATE KEY-----\"\"\"
token_uri = "http://127.0.0.1:1/token"

[push.apns]
team_id = "T"
key_id = "K"
private_key = "pem"
topic = "com.example.app"
sandbox = true

[push.webhook]
url = "https://hooks.example.com/push"
secret = "w"
"""
    )
    tick = config.schedules["tick"]
    assert (tick.cron, tick.body, tick.active) == ("*/2 * * * * *", {"reason": "tick", "n": 1}, False)
    assert config.push is not None and config.push.fcm is not None and config.push.apns is not None
    assert config.push.fcm.private_key.startswith("-----BEGIN")
    assert config.push.apns.sandbox is True
    assert parse_toml(render_toml(config)) == config
