"""The schemathesis campaign of issue 16: seeded credentials and data, a driver that sends a bounded
number of generated requests per operation of an OpenAPI document, and a tally of what came back.

One driver serves the in-suite test (the ASGI app in-process, ``schemathesis.openapi.from_asgi``)
and the long run against a server process (``python -m benchmarks.fuzz``, ``from_url``). Requests
are generated from the document; path parameters are mostly taken from the seeded objects (an app
key, collections, entities, users, groups, roles; Kinto buckets, collections, records, groups,
accounts), and each request goes as one of several principals (the master secret, the app secret,
a user, nobody, a wrong password), so that many requests succeed and reach deep code. Seeds that
the fuzzer itself deletes or invalidates (a user logging out, an entity deleted) are renewed
between operations.
"""

from __future__ import annotations

import base64
import random
import secrets
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import hypothesis.errors
import requests
from hypothesis import strategies as st
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kinbase.storage.base import AppRecord, StorageBackend

__all__ = [
    "CHECKS",
    "KINTO_APP_SETTINGS",
    "Seeds",
    "Tally",
    "conformance_failures",
    "create_fuzz_app",
    "fuzz",
    "seed_kinto",
    "seed_kinvey",
]

KINTO_APP_SETTINGS: dict[str, Any] = {"bcrypt_rounds": 4, "account_write_principals": ["account:admin"]}

CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]
"""The conformance checks run on every response (beside "no 5xx", which the tally counts)."""


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def create_fuzz_app(storage: StorageBackend) -> AppRecord:
    """An app for the campaign (cheap bcrypt for Kinto accounts, an admin account principal)."""
    async with storage.writer() as w:
        return await w.create_app(
            "kid_fuzz" + secrets.token_hex(4),
            "Fuzz app",
            secrets.token_hex(16),
            secrets.token_hex(16),
            {"kinto": KINTO_APP_SETTINGS},
        )


class Http:
    """A requests session bound to a base URL ("" for schemathesis's in-process ASGI client)."""

    def __init__(self, session: requests.Session, base_url: str = "") -> None:
        self.session = session
        self.base_url = base_url
        self.count = 0

    def __call__(self, method: str, path: str, auth: str | None = None, **kw: Any) -> requests.Response:
        headers = dict(kw.pop("headers", None) or {})
        if auth is not None:
            headers["Authorization"] = auth
        self.count += 1
        return self.session.request(method, self.base_url + path, headers=headers, timeout=30, **kw)


@dataclass
class Seeds:
    """What the requests are built from: values per path parameter, and credentials."""

    app: AppRecord
    values: dict[str, list[str]] = field(default_factory=dict)
    query: dict[str, list[str]] = field(default_factory=dict)
    """Values of query-string parameters that mean something (filters, sorts, fields)."""
    auths: list[str | None] = field(default_factory=list)
    schemes: dict[str, list[str]] = field(default_factory=dict)
    """Credentials that satisfy each security scheme of the document (``masterSecret``: the master
    secret...): most requests go with one their operation accepts, the rest with any of ``auths``."""
    body: dict[str, list[Any]] = field(default_factory=dict)
    """Values of body fields that name seeded things (a username and its password, a client_id)."""
    body_operations: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """The body fields given :attr:`body` values, per operation (an ``operationId`` prefix)."""
    renew: Callable[[], None] = lambda: None


def _ok(response: requests.Response, *statuses: int) -> requests.Response:
    if response.status_code not in statuses:
        raise AssertionError(
            f"seeding: {response.request.method} {response.url}: {response.status_code} {response.text}"
        )
    return response


REDIRECT_URI = "https://app.example.com/callback"

KINVEY_CONFIG: dict[str, Any] = {
    "collections": {"books": {"delta_set": True}, "notes": {"delta_set": True}},
    "auth": {"default": {"user_store": True, "redirect_uris": [REDIRECT_URI]}},
}
"""The app configuration the Kinvey seeds need: delta set on the seeded collections (``_deltaset``)
and an auth service on kinbase's own users (``/oauth/auth``, ``/oauth/token``)."""


def _configured(document: Any) -> bool:
    if not isinstance(document, dict):
        return False
    collections = document.get("collections") or {}
    auth = (document.get("auth") or {}).get("default") or {}
    return auth.get("user_store") is True and all(
        (collections.get(c) or {}).get("delta_set") is True for c in ("books", "notes")
    )


def _token(url: str) -> str:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["token"][0]


def seed_kinvey(http: Http, app: AppRecord) -> Seeds:
    """Users (one a member of a group and a role), two collections of entities with delta set, a
    group, a role, an auth service."""
    k = app.key
    master = basic(k, app.master_secret)
    appauth = basic(k, app.app_secret)
    # The master secret twice, each user's session twice (below): most requests are authorised.
    seeds = Seeds(app, auths=[master, master, appauth, None, basic(k, "wrong")])
    tokens: list[str] = []
    users: list[str] = []
    names: list[str] = []

    def new_user() -> None:
        name = "fz_" + secrets.token_hex(4)
        r = _ok(http("POST", f"/user/{k}", appauth, json={"username": name, "password": "pw"}), 201)
        users.append(r.json()["_id"])
        tokens.append("Kinvey " + r.json()["_kmd"]["authtoken"])
        names.append(name)
        seeds.values.setdefault("login", []).append(name)

    def renew() -> None:
        # A token the fuzzer logged out (or whose user it deleted) is replaced by a new user's.
        for token in list(tokens):
            if http("GET", f"/user/{k}/_me", token).status_code != 200:
                tokens.remove(token)
        while len(tokens) < 2:
            new_user()
        seeds.auths[5:] = tokens + tokens
        seeds.values["user_id"] = users[-4:]
        seeds.schemes.update(
            masterSecret=[master],
            appSecret=[appauth],
            session=tokens[-2:],
            userPassword=[basic(name, "pw") for name in names[-2:]],
            oauthClient=[appauth],
        )
        seeds.body["username"] = names[-2:]
        # The fuzzer may replace the configuration (PUT /appconfig) or turn delta set off.
        config = http("GET", f"/appconfig/{k}", master)
        if config.status_code != 200 or not _configured(config.json()):
            _ok(http("PUT", f"/appconfig/{k}", master, json=KINVEY_CONFIG), 200)
        # A file with bytes, and the tokens of its signed upload and download URLs.
        found = http("GET", f"/blob/{k}/seedfile", master)
        if found.status_code != 200 or not found.json().get("size"):
            meta = {"_filename": "seed.txt", "mimeType": "text/plain", "size": 5}
            made = _ok(http("PUT", f"/blob/{k}/seedfile", master, json=meta), 200, 201).json()
            upload = made["_uploadURL"]
            _ok(
                http(
                    "PUT",
                    upload[upload.index("/blob/") :],
                    None,
                    data=b"hello",
                    headers=made["_requiredHeaders"],
                ),
                200,
                201,
            )
            seeds.query["token:file_bytes_upload"] = [_token(upload)]
            found = _ok(http("GET", f"/blob/{k}/seedfile", master), 200)
        seeds.query["token:file_bytes_download"] = [_token(found.json()["_downloadURL"])]
        # A since every delta set can answer: the start of a read after delta set was enabled.
        start = _ok(http("GET", f"/appdata/{k}/notes?limit=1", master), 200).headers["X-Kinvey-Request-Start"]
        seeds.query["since"] = [start]
        for collection in ("books", "notes"):
            for i in range(3):
                body = {"title": f"t{i}", "n": i, "tags": ["a", "b"], "_acl": {"r": users[-2:]}}
                _ok(http("PUT", f"/appdata/{k}/{collection}/{collection}{i}", master, json=body), 200, 201)
        group = {
            "_id": "crew",
            "users": {"list": [{"_type": "KinveyRef", "_collection": "user", "_id": users[-1]}]},
        }
        if http("GET", f"/group/{k}/crew", master).status_code == 404:
            _ok(http("POST", f"/group/{k}", master, json=group), 201)
        r = http("GET", f"/roles/{k}", master)
        roles = [role["_id"] for role in r.json()] if r.status_code == 200 else []
        if not roles:
            roles = [_ok(http("POST", f"/roles/{k}", master, json={"name": "editor"}), 201).json()["_id"]]
        seeds.values["role_id"] = roles[-2:]

    seeds.values.update(
        app_key=[k],
        collection=["books", "books", "notes", "notes", "user"],
        entity_id=[f"{c}{i}" for c in ("books", "notes") for i in range(3)],
        **{f"entity_id:{c}": [f"{c}{i}" for i in range(3)] for c in ("books", "notes")},
        group_id=["crew"],
        file_id=["seedfile"],
        endpoint=["hello"],
    )
    seeds.query.update(
        query=['{"n": {"$gte": 1}}', '{"title": "t1"}', "{}", '{"tags": {"$in": ["a"]}}'],
        sort=['{"n": -1}', '{"title": 1}', "n"],
        fields=["title,n", "tags"],
        limit=["1", "2", "10"],
        skip=["0", "1"],
        client_id=[k],
        redirect_uri=[REDIRECT_URI],
        response_type=["code"],
    )
    seeds.body.update(
        password=["pw"],
        client_id=[k],
        redirect_uri=[REDIRECT_URI],
        response_type=["code"],
        grant_type=["password"],
    )
    seeds.body_operations = {
        "users_login": ("username", "password"),
        "rpc_check_username": ("username",),
        "oauth_token": ("grant_type", "client_id", "username", "password"),
        "oauth_authorize_api": ("client_id", "redirect_uri", "response_type"),
    }
    seeds.renew = renew
    renew()
    return seeds


def seed_kinto(http: Http, app: AppRecord, base: str) -> Seeds:
    """Accounts alice, bob and admin; a bucket with a collection, records and a group."""
    seeds = Seeds(app)
    passwords: dict[str, str] = {}

    def renew() -> None:
        for name in ("alice", "bob", "admin"):
            auth = basic(name, passwords.get(name, name + "-pw"))
            hello = http("GET", f"{base}/", auth)
            if hello.status_code == 200 and "user" in hello.json():
                continue
            # Gone or its password changed by the fuzzer: the admin sets it back (or it is recreated).
            passwords[name] = name + "-pw"
            body = {"data": {"password": passwords[name]}}
            r = http(
                "PUT",
                f"{base}/accounts/{name}",
                basic("admin", passwords.get("admin", "admin-pw")),
                json=body,
            )
            if r.status_code not in (200, 201):
                _ok(http("PUT", f"{base}/accounts/{name}", None, json=body), 200, 201)
        alice = basic("alice", passwords["alice"])
        bob = basic("bob", passwords["bob"])
        admin = basic("admin", passwords["admin"])
        seeds.auths = [alice, alice, bob, bob, admin, None, basic("alice", "wrong")]
        perms = {"read": ["account:bob"], "write": ["account:admin"]}
        _ok(http("PUT", f"{base}/buckets/main", alice, json={"permissions": perms}), 200, 201)
        _ok(http("PUT", f"{base}/buckets/main/collections/tasks", alice, json={}), 200, 201)
        for i in range(3):
            body = {"data": {"title": f"task {i}", "done": bool(i % 2)}}
            _ok(
                http("PUT", f"{base}/buckets/main/collections/tasks/records/r{i}", alice, json=body), 200, 201
            )
        _ok(
            http(
                "PUT", f"{base}/buckets/main/groups/team", alice, json={"data": {"members": ["account:bob"]}}
            ),
            200,
            201,
        )
        del bob

    seeds.values.update(
        bid=["main"], cid=["tasks"], id=["r0", "r1", "r2", "team", "tasks", "alice", "bob"], gid=["team"]
    )
    seeds.renew = renew
    renew()
    return seeds


@dataclass
class Tally:
    """What came back: responses by status class, requests that got no response, check failures."""

    classes: Counter[str] = field(default_factory=Counter)
    dropped: int = 0
    server_errors: list[str] = field(default_factory=list)
    conformance: Counter[str] = field(default_factory=Counter)
    conformance_examples: dict[str, str] = field(default_factory=dict)
    no_negative: list[str] = field(default_factory=list)
    by_operation: dict[str, Counter[str]] = field(default_factory=dict)
    refusals: dict[str, list[str]] = field(default_factory=dict)
    """A few 4xx answers per operation (to see why requests fail)."""
    seeding: int = 0
    """Requests sent to seed and renew the data (not generated)."""

    @property
    def responses(self) -> int:
        return sum(self.classes.values())

    def summary(self) -> str:
        classes = ", ".join(f"{k}={v}" for k, v in sorted(self.classes.items()))
        return f"{self.responses} responses ({classes}), {self.dropped} dropped"


def conformance_failures(case: Any, response: Any, headers: dict[str, str]) -> list[tuple[str, str]]:
    """The :data:`CHECKS` that ``response`` fails, as (title, details)."""
    try:
        case.validate_response(response, checks=CHECKS, headers=headers)
    except (Failure, FailureGroup) as exc:
        failures = exc.exceptions if isinstance(exc, FailureGroup) else (exc,)
        return [(getattr(f, "title", type(f).__name__), str(f)) for f in failures]
    return []


def _fill(case: Any, seeds: Seeds, rnd: random.Random, mode: GenerationMode) -> None:
    """Path parameters mostly from the seeds (the app key always), query-string parameters often
    (a filter that parses reaches the storage), and in the positive mode the fields of some bodies
    that name seeded things (a login's username and password) often; the rest as generated."""
    operation_id = case.operation.definition.raw.get("operationId", "")
    fields = next((f for op, f in seeds.body_operations.items() if operation_id.startswith(op)), ())
    if mode is GenerationMode.POSITIVE and fields and isinstance(case.body, dict) and rnd.random() < 0.75:
        for name in fields:
            case.body[name] = rnd.choice(seeds.body[name])
    params = case.path_parameters or {}
    for name in list(params):
        # A pool that depends on the collection chosen before (``entity_id:books``), or the name's.
        pool = seeds.values.get(f"{name}:{params.get('collection')}") or seeds.values.get(name)
        if pool and (name == "app_key" or rnd.random() < 0.85):
            params[name] = rnd.choice(pool)
    query = case.query or {}
    for name in list(query):
        pool = seeds.query.get(f"{name}:{operation_id}") or seeds.query.get(name)
        if pool and rnd.random() < 0.7:
            query[name] = rnd.choice(pool)


def fuzz(
    schema: Any,
    seeds: Seeds,
    *,
    examples: int,
    seed: int = 0,
    session: requests.Session | None = None,
    base_url: str | None = None,
    conformance: bool = True,
    operations: Iterable[str] | None = None,
    modes: Iterable[GenerationMode] = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE),
    tally: Tally | None = None,
    deadline: float | None = None,
) -> Tally:
    """Send ``examples`` generated requests to each operation of ``schema`` in the positive mode
    (what the document allows) and half as many in the negative mode (what it does not),
    derandomised by ``seed``. The seeds are renewed after every operation that may change them."""
    tally = tally if tally is not None else Tally()
    wanted = set(operations) if operations is not None else None
    stale = True
    for mode in modes:
        count = examples if mode is GenerationMode.POSITIVE else max(1, examples // 2)
        for result in schema.get_all_operations():
            operation = result.ok()
            label = f"{operation.method.upper()} {operation.path}"
            if deadline is not None and time.monotonic() > deadline:
                return tally
            if wanted is None or label in wanted:
                if stale:
                    seeds.renew()
                _fuzz_operation(
                    operation, label, mode, seeds, tally, count, seed, session, base_url, conformance
                )
                stale = operation.method.upper() != "GET" and not label.endswith(("/_count", "/_group"))
    return tally


def _fuzz_operation(
    operation: Any,
    label: str,
    mode: GenerationMode,
    seeds: Seeds,
    tally: Tally,
    examples: int,
    seed: int,
    session: requests.Session | None,
    base_url: str | None,
    conformance: bool,
) -> None:
    rnd = random.Random(f"{seed}:{mode}:{label}")
    security = [name for option in operation.definition.raw.get("security", []) for name in option]

    @hypothesis.settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.seed(seed)
    @hypothesis.given(case=operation.as_strategy(mode), auth=st.integers(0, 1 << 16))
    def run(case: Any, auth: int) -> None:
        _fill(case, seeds, rnd, mode)
        # Four in five requests go with a credential the operation accepts, if the seeds have one.
        accepted = [c for scheme in security for c in seeds.schemes.get(scheme, [])]
        if accepted and auth % 5:
            credential: str | None = accepted[(auth // 5) % len(accepted)]
        else:
            credential = seeds.auths[auth % len(seeds.auths)]
        headers = {"Authorization": credential} if credential else {}
        if credential is None:
            case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        try:
            # A redirect is an answer to check, not to follow (it may point outside, at a redirect_uri).
            response = case.call(session=session, base_url=base_url, headers=headers, allow_redirects=False)
        except (requests.ConnectionError, requests.Timeout) as exc:
            tally.dropped += 1
            tally.server_errors.append(
                f"{label}: no response ({type(exc).__name__}): {case.as_curl_command()}"
            )
            return
        status = response.status_code
        tally.classes[f"{status // 100}xx"] += 1
        tally.by_operation.setdefault(label, Counter())[f"{status // 100}xx"] += 1
        if 400 <= status < 500 and len(tally.refusals.setdefault(label, [])) < 3:
            tally.refusals[label].append(f"{status} {response.text[:160]}")
        if status >= 500:
            tally.server_errors.append(f"{label}: {status} {response.text[:300]!r}: {case.as_curl_command()}")
        elif conformance:
            for title, text in conformance_failures(case, response, headers):
                name = f"{label}: {title}"
                tally.conformance[name] += 1
                tally.conformance_examples.setdefault(name, text[:600])

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # Nothing in the operation can be made invalid (no parameters, a free-form body).
        if mode is GenerationMode.POSITIVE:
            raise
        tally.no_negative.append(label)
