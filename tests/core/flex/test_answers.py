"""How kinbase reads what a Flex handler answered, without a service: error bodies and queries."""

from __future__ import annotations

import pytest

from kinbase.core.flex.datalink import service_answer
from kinbase.core.flex.hooks import _query_params
from kinbase.core.kinvey.errors import KinveyError


def test_an_error_body_passes_through_except_invalid_credentials() -> None:
    body = {"error": "NotFound", "description": "d", "debug": "x"}
    assert (service_answer("svc", 404, body).status, service_answer("svc", 404, body).body) == (404, body)
    refused = service_answer("svc", 401, {"error": "InvalidCredentials", "description": "d", "debug": ""})
    assert refused.status == 401 and refused.body["error"] == "InsufficientCredentials"


@pytest.mark.parametrize("body", [None, "oops", ["error"], {"error": 5}])
def test_an_error_status_without_an_error_object_is_a_runtime_error(body: object) -> None:
    with pytest.raises(KinveyError) as failed:
        service_answer("svc", 500, body)
    assert failed.value.name == "BLRuntimeError" and "'svc'" in failed.value.debug


def test_a_query_the_hook_set_becomes_query_parameters() -> None:
    assert _query_params(None, "svc") is None
    params = _query_params({"query": '{"a":1}', "limit": 5, "sort": {"n": -1}, "skip": None}, "svc")
    assert params == {"query": '{"a":1}', "limit": "5", "sort": '{"n":-1}'}
    with pytest.raises(KinveyError) as failed:
        _query_params("query=1", "svc")
    assert failed.value.name == "BLRuntimeError"
