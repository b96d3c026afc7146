"""Bad requests get 4xx problem details with stable codes, never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokensim.server.client import TokensimClient
from tokensim.server.core import load_support_token
from tokensim.server.http.app import create_app
from tokensim.server.http.problems import PROBLEM_MEDIA_TYPE, PROBLEMS

from .conftest import NO_ENV, PASSWORD, PHONE, fast_config

POSTS = [
    "/v1/login",
    "/v1/login/{login}/challenge",
    "/v1/login/{login}/answer",
    "/v1/ib-key/activations",
    "/v1/ib-key/decisions",
    "/v1/support/users",
    "/v1/support/users/alice/devices",
    "/v1/support/users/alice/temporary-passcode",
    "/v1/support/devices/{device}/activation",
    "/v1/support/devices/{device}/activation/answer",
]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TokensimClient, dict[str, str]]]:
    config = fast_config(Path(tmp_path_factory.mktemp("api")) / "data", max_body_bytes=4096)
    app = create_app(config, environ=NO_ENV)
    token = load_support_token(config.token_path, environ=NO_ENV)
    try:
        with TokensimClient.in_process(app, support_token=token) as client:
            client.create_user("alice", PASSWORD, phones=[PHONE])
            device = client.enroll("alice", "scc").device.id
            login = client.login("alice", PASSWORD).login_id
            yield client, {"token": token, "device": device, "login": login}
    finally:
        app.state.service.close()


def _path(template: str, ids: dict[str, str]) -> str:
    return template.format(login=ids["login"], device=ids["device"])


def _check_problem(response: object, status: int, code: str) -> dict[str, object]:
    import httpx

    assert isinstance(response, httpx.Response)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"] == f"/v1/problems/{code}"
    assert body["title"] == PROBLEMS[code].title
    return dict(body)


@pytest.mark.parametrize("template", POSTS)
def test_malformed_json_is_400(api: tuple[TokensimClient, dict[str, str]], template: str) -> None:
    client, ids = api
    response = client.request(
        "POST",
        _path(template, ids),
        content=b'{"username": "al',
        token=ids["token"],
        headers={"content-type": "application/json"},
    )
    _check_problem(response, 400, "malformed-json")


@pytest.mark.parametrize("template", POSTS)
def test_unknown_fields_are_422_naming_the_field(
    api: tuple[TokensimClient, dict[str, str]], template: str
) -> None:
    client, ids = api
    # An enrollment's kind says which fields it takes (the error names the kind: body.scc.surprise).
    sent: dict[str, object] = {"kind": "scc", "surprise": 1} if template.endswith("/devices") else {}
    sent["surprise"] = 1
    response = client.request("POST", _path(template, ids), json=sent, token=ids["token"])
    body = _check_problem(response, 422, "invalid-request")
    assert any(error["loc"].endswith(".surprise") for error in body["errors"])  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "alice", "password": 12345678}, "body.password"),
        ({"username": ["alice"], "password": "x"}, "body.username"),
        ({"username": "alice", "password": "x", "platform": None}, "body.platform"),
        ({"username": "alice"}, "body.password"),
        ({"username": "a" * 65, "password": "x"}, "body.username"),
    ],
)
def test_wrong_types_and_missing_fields_are_422(
    api: tuple[TokensimClient, dict[str, str]], body: dict[str, object], field: str
) -> None:
    client, _ = api
    problem = _check_problem(client.request("POST", "/v1/login", json=body), 422, "invalid-request")
    assert field in [error["loc"] for error in problem["errors"]]  # type: ignore[attr-defined]


def test_the_refused_input_is_never_echoed(api: tuple[TokensimClient, dict[str, str]]) -> None:
    client, _ = api
    response = client.request("POST", "/v1/login", json={"username": "alice", "password": 987654321})
    assert "987654321" not in response.text


def test_a_body_over_the_limit_is_413_with_or_without_a_length(
    api: tuple[TokensimClient, dict[str, str]],
) -> None:
    client, _ids = api
    big = json.dumps({"username": "alice", "password": "x" * 5000}).encode()
    _check_problem(
        client.request("POST", "/v1/login", content=big, headers={"content-type": "application/json"}),
        413,
        "body-too-large",
    )

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    import httpx

    response = client._http.post("/v1/login", content=chunks(), headers={"content-type": "application/json"})
    assert isinstance(response, httpx.Response)
    _check_problem(response, 413, "body-too-large")


def test_a_body_just_under_the_limit_is_read(api: tuple[TokensimClient, dict[str, str]]) -> None:
    client, _ = api
    body = json.dumps({"username": "nobody", "password": "y" * 200}).encode()
    padded = body + b" " * (4096 - len(body))
    response = client.request(
        "POST", "/v1/login", content=padded, headers={"content-type": "application/json"}
    )
    _check_problem(response, 401, "invalid-credentials")  # read, parsed and checked


def test_a_body_that_is_not_json_is_415(api: tuple[TokensimClient, dict[str, str]]) -> None:
    client, _ = api
    response = client.request(
        "POST", "/v1/login", content=b"username=alice", headers={"content-type": "text/plain"}
    )
    _check_problem(response, 415, "unsupported-media-type")


@pytest.mark.parametrize("body", [b'["alice", "pw"]', b'"alice"', b"null", b"123", b""])
def test_json_that_is_not_an_object_is_422(api: tuple[TokensimClient, dict[str, str]], body: bytes) -> None:
    client, _ = api
    response = client.request("POST", "/v1/login", content=body, headers={"content-type": "application/json"})
    _check_problem(response, 422, "invalid-request")


def test_bytes_that_are_not_text_are_400(api: tuple[TokensimClient, dict[str, str]]) -> None:
    client, _ = api
    headers = {"content-type": "application/json"}
    response = client.request("POST", "/v1/login", content=b"\xff\xfe\x00", headers=headers)
    _check_problem(response, 400, "malformed-json")


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic abc", "Bearer "])
def test_support_endpoints_need_the_support_token(
    api: tuple[TokensimClient, dict[str, str]], header: str | None
) -> None:
    client, _ = api
    headers = {} if header is None else {"authorization": header}
    response = client.request("GET", "/v1/support/users/alice", headers=headers)
    _check_problem(response, 401, "unauthorized")
    _check_problem(client.request("GET", "/v1/outbox", headers=headers), 401, "unauthorized")


def test_unknown_paths_and_methods_are_problems(api: tuple[TokensimClient, dict[str, str]]) -> None:
    client, _ = api
    _check_problem(client.request("GET", "/v1/nowhere"), 404, "not-found")
    response = client.request("GET", "/v1/login")
    _check_problem(response, 405, "method-not-allowed")
    assert response.headers["allow"] == "POST"
    # Every route is in an included router (tokensim.server.http.routes): Allow names its methods too.
    for method, path, allowed in [("GET", "/v1/withdrawals", "POST"), ("PATCH", "/v1/account/email", "PUT")]:
        response = client.request(method, path)
        _check_problem(response, 405, "method-not-allowed")
        assert response.headers["allow"] == allowed


def test_waiting_errors_carry_a_retry_after_header(api: tuple[TokensimClient, dict[str, str]]) -> None:
    client, _ = api
    client.create_user("carol", PASSWORD)
    for _ in range(5):
        client.request("POST", "/v1/login", json={"username": "carol", "password": "wrong password"})
    response = client.request("POST", "/v1/login", json={"username": "carol", "password": PASSWORD})
    body = _check_problem(response, 429, "too-many-attempts")
    assert response.headers["retry-after"] == "30"
    assert 29.0 < body["retry_after"] <= 30.0  # type: ignore[operator]


def test_every_problem_code_is_documented(api: tuple[TokensimClient, dict[str, str]]) -> None:
    client, _ = api
    for code, kind in PROBLEMS.items():
        assert client.request("GET", f"/v1/problems/{code}").json()["status"] == kind.status
    assert client.request("GET", "/v1/problems/nope").status_code == 404


def test_openapi_describes_the_api(api: tuple[TokensimClient, dict[str, str]]) -> None:
    client, _ = api
    paths = client.request("GET", "/openapi.json").json()["paths"]
    assert {"/v1/login", "/v1/login/{login_id}/answer", "/v1/ib-key/decisions", "/v1/support/users"} <= set(
        paths
    )


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=10,
)
FIELDS = [
    "username",
    "password",
    "phones",
    "kind",
    "pin",
    "device_id",
    "mode",
    "challenge_id",
    "answer",
    "token",
    "public_key",
    "request_id",
    "approved",
    "signature",
    "key_id",
    "equity",
    "length",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    template=st.sampled_from(POSTS),
    body=st.one_of(JSON, st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=6)),
)
def test_no_body_ever_makes_a_500(
    api: tuple[TokensimClient, dict[str, str]], template: str, body: object
) -> None:
    client, ids = api
    response = client.request("POST", _path(template, ids), json=body, token=ids["token"])
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["code"] in PROBLEMS
