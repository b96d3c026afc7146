"""The HTTP API's contract: what the OpenAPI document declares is what the server enforces.

Security schemes per route, the enums and patterns of the request bodies (taken from the server's
own tables, so a kind or mode added there and not here fails), amounts as plain decimal strings,
the bearer challenge of every 401, and ``/docs`` served with no asset from another host.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tokensim.server.callers import ACTIONS
from tokensim.server.client import TokensimClient
from tokensim.server.config import ServerConfig
from tokensim.server.core import load_support_token
from tokensim.server.http.app import create_app
from tokensim.server.http.problems import PROBLEM_MEDIA_TYPE
from tokensim.server.login import PLATFORMS
from tokensim.server.money import DEPOSIT_METHODS
from tokensim.server.support import CONDITIONS
from tokensim.server.testing.harness import Harness
from tokensim.server.verify import POLICIES, TEMPORARY_KIND

from .conftest import NO_ENV, PASSWORD, PHONE, fast_config
from .sls_helpers import session

# RFC 6750 §3: Bearer followed by auth-params (name="quoted value"), comma separated.
_CHALLENGE = re.compile(r'^Bearer (?:[a-z_]+="[^"\\]*")(?:, [a-z_]+="[^"\\]*")*$')


def _params(challenge: str) -> dict[str, str]:
    assert _CHALLENGE.match(challenge), challenge
    return dict(re.findall(r'([a-z_]+)="([^"]*)"', challenge))


@pytest.fixture
def document(client: TokensimClient) -> dict[str, Any]:
    response = client.request("GET", "/openapi.json")
    assert response.status_code == 200
    loaded: dict[str, Any] = response.json()
    return loaded


def _schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = document["components"]["schemas"][name]
    return found


def _enum(document: dict[str, Any], model: str, field: str) -> set[str]:
    prop = _schema(document, model)["properties"][field]
    for option in prop.get("anyOf", [prop]):
        if "enum" in option:
            return set(option["enum"])
        if "const" in option:
            return {option["const"]}
        if "$ref" in option:
            return set(document["components"]["schemas"][option["$ref"].rsplit("/", 1)[1]]["enum"])
    raise AssertionError(f"{model}.{field} declares no enum: {prop}")


def test_every_route_names_the_scheme_it_needs(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["session"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["session"]["description"],
    }
    assert schemes["support"]["scheme"] == "bearer"
    security = {
        f"{method.upper()} {path}": [name for item in operation.get("security", []) for name in item]
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    assert security["POST /v1/withdrawals"] == ["session"]
    assert security["GET /v1/session"] == ["session"]
    assert security["DELETE /v1/session"] == ["session"]
    assert security["POST /v1/support/users"] == ["support"]
    assert security["GET /v1/outbox"] == ["support"]
    assert security["POST /v1/login"] == []
    assert security["POST /v1/ib-key/migrations"] == []
    for route, names in security.items():
        path = route.split(" ", 1)[1]
        if path.startswith("/v1/support") or path == "/v1/outbox":
            assert names == ["support"], route
        operation = document["paths"][path][route.split(" ", 1)[0].lower()]
        if names:
            assert "401" in operation["responses"], route
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"], route
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                assert list(response.get("content", {})) == [PROBLEM_MEDIA_TYPE], (route, status)


def test_the_enums_are_the_servers_own_tables(document: dict[str, Any]) -> None:
    enrollable = set(POLICIES) - {TEMPORARY_KIND}
    declared = set(_schema(document, "EnrollPinDevice")["properties"]["kind"]["enum"])
    declared |= set(_schema(document, "EnrollPhoneDevice")["properties"]["kind"]["enum"])
    declared |= set(_schema(document, "EnrollCard")["properties"]["kind"]["enum"])
    assert declared == enrollable
    pin_kinds = {kind for kind, policy in POLICIES.items() if policy.needs_pin}
    assert set(_schema(document, "EnrollPinDevice")["properties"]["kind"]["enum"]) == pin_kinds
    assert "pin" in _schema(document, "EnrollPinDevice")["required"]
    number_kinds = {kind for kind, policy in POLICIES.items() if policy.needs_number}
    assert set(_schema(document, "EnrollPhoneDevice")["properties"]["kind"]["enum"]) == number_kinds
    modes = {mode for kind, policy in POLICIES.items() if kind != TEMPORARY_KIND for mode in policy.modes}
    assert _enum(document, "ChallengeBody", "mode") == modes
    assert _enum(document, "LoginBody", "platform") == set(PLATFORMS)
    assert _enum(document, "DepositBody", "method") == set(DEPOSIT_METHODS)
    assert _enum(document, "StepUpBody", "action") == set(ACTIONS)
    assert _enum(document, "ReportBody", "condition") == set(CONDITIONS)
    user = _schema(document, "CreateUserBody")["properties"]
    assert user["password"]["minLength"] == 8
    assert user["username"]["pattern"] == "^[a-z0-9][a-z0-9._-]{1,63}$"
    assert _schema(document, "PinChangeBody")["properties"]["new_pin"]["pattern"] == "^[0-9]{4}$"


def test_what_the_document_allows_the_server_takes(client: TokensimClient, config: ServerConfig) -> None:
    # Each field was checked by the server without the document saying so.
    support = load_support_token(config.token_path, environ=NO_ENV)
    created = client.request(
        "POST",
        "/v1/support/users",
        json={"username": "dora", "password": PASSWORD, "phones": [PHONE], "start_with_sms": False},
        token=support,
    )
    assert created.status_code == 201, created.text
    short = client.request(
        "POST", "/v1/support/users", json={"username": "eve", "password": "1234567"}, token=support
    )
    assert short.status_code == 422
    assert short.json()["errors"][0]["loc"] == "body.password"
    bad_kind = client.request(
        "POST", "/v1/support/users/dora/devices", json={"kind": "toaster"}, token=support
    )
    assert bad_kind.status_code == 422
    no_pin = client.request("POST", "/v1/support/users/dora/devices", json={"kind": "dsc"}, token=support)
    assert no_pin.status_code == 422
    assert no_pin.json()["errors"][0]["loc"] == "body.dsc.pin"
    card = client.request("POST", "/v1/support/users/dora/devices", json={"kind": "scc"}, token=support)
    assert card.status_code == 201, card.text
    # A well-formed number that is not the user's is a conflict with the account, not a malformed request.
    stranger = client.request(
        "POST",
        "/v1/support/users/dora/devices",
        json={"kind": "phone", "number": "+15559999999"},
        token=support,
    )
    assert (stranger.status_code, stranger.json()["code"]) == (409, "unverified-number")
    platform = client.request(
        "POST", "/v1/login", json={"username": "dora", "password": PASSWORD, "platform": "tv"}
    )
    assert platform.status_code == 422
    assert platform.json()["errors"][0]["loc"] == "body.platform"


@pytest.mark.parametrize(
    "amount",
    [
        "1_000",
        " 5",
        "5 ",
        "+5",
        "-5",
        "\uff15",
        "5\u0660",
        "1e3",
        "5E2",
        "NaN",
        "Infinity",
        "-Infinity",
        "0",
        "0.00",
        "5.001",
        "05",
        ".5",
        "5.",
        "1000000000000000",
        "0x10",
        "",
    ],
)
def test_amounts_other_than_plain_decimals_are_refused(
    client: TokensimClient, harness: Harness, alice: str, amount: str
) -> None:
    token = session(harness, alice, harness.enroll(alice, "scc"))
    response = client.request(
        "POST", "/v1/deposits", json={"amount_usd": amount, "method": "wire"}, token=token
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["code"] == "invalid-request"
    assert [error["loc"] for error in body["errors"]] == ["body.amount_usd"]
    assert "plain decimal amount" in body["detail"] or amount == ""  # "" is below the minimum length
    assert all("input" not in error for error in body["errors"])  # the input is never echoed
    withdrawal = client.request("POST", "/v1/withdrawals", json={"amount_usd": amount}, token=token)
    assert withdrawal.status_code == 422


@pytest.mark.parametrize("amount", ["5", "5.00", "5.5", "0.01", "0.10", "999999999999999.99"])
def test_plain_decimal_amounts_are_taken(
    client: TokensimClient, harness: Harness, alice: str, amount: str
) -> None:
    token = session(harness, alice, harness.enroll(alice, "scc"))
    receipt = client.deposit(token, amount, "wire")
    assert Decimal(receipt.to_json()["amount_usd"]) == Decimal(amount)


def test_the_service_refuses_the_same_amounts(client: TokensimClient) -> None:
    from tokensim.protocol.errors import InvalidParameter
    from tokensim.server.money import parse_amount

    for bad in ("1_000", " 5", "+5", "\uff15", "1e3", "NaN"):
        with pytest.raises(InvalidParameter, match="plain decimal"):
            parse_amount(bad)
    assert str(parse_amount("5.00")) == "5.00"


def test_a_401_carries_a_bearer_challenge(client: TokensimClient) -> None:
    missing = client.request("GET", "/v1/session")
    assert missing.status_code == 401
    # No credential sent: the challenge names the realm and no error (RFC 6750 §3.1).
    assert _params(missing.headers["www-authenticate"]) == {"realm": "tokensim"}
    for path in ("/v1/session", "/v1/support/users/alice", "/v1/withdrawals/limits"):
        wrong = client.request("GET", path, token="not-a-token")
        assert wrong.status_code == 401, path
        params = _params(wrong.headers["www-authenticate"])
        assert params["realm"] == "tokensim"
        assert params["error"] == "invalid_token"
    refused = client.request("POST", "/v1/login", json={"username": "nobody", "password": "wrong password"})
    assert refused.status_code == 401
    assert _params(refused.headers["www-authenticate"]) == {"realm": "tokensim"}
    # Only 401s (and the 403 of a scope too narrow) carry it.
    assert "www-authenticate" not in client.request("GET", "/v1/problems/nope").headers


def test_a_session_without_the_scope_gets_an_insufficient_scope_challenge(
    client: TokensimClient, config: ServerConfig, alice: str
) -> None:
    # A closed account's session reads statements only.
    support = load_support_token(config.token_path, environ=NO_ENV)
    assert client.request("POST", f"/v1/support/users/{alice}/close", token=support).status_code == 200
    started = client.login(alice, PASSWORD)
    assert started.session is not None
    token = started.session.token
    response = client.request("POST", "/v1/withdrawals", json={"amount_usd": "1.00"}, token=token)
    assert (response.status_code, response.json()["code"]) == (403, "insufficient-scope")
    assert _params(response.headers["www-authenticate"]) == {
        "realm": "tokensim",
        "error": "insufficient_scope",
    }


def test_unknown_or_repeated_query_parameters_are_refused(
    client: TokensimClient, config: ServerConfig
) -> None:
    support = load_support_token(config.token_path, environ=NO_ENV)
    assert client.request("GET", "/v1/support/audit", params={"limit": 5}, token=support).status_code == 200
    for path, query in (
        ("/v1/support/audit", "limit=5&limt=6"),
        ("/v1/support/audit", "limit=5&limit=500"),
        ("/v1/outbox", "to=%2B15551230001&from=x"),
    ):
        response = client.request("GET", f"{path}?{query}", token=support)
        assert (response.status_code, response.json()["code"]) == (422, "invalid-request"), query


def test_a_path_of_several_routes_allows_all_their_methods(client: TokensimClient) -> None:
    response = client.request("PUT", "/v1/session")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, DELETE"


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """The app on uvicorn on a real socket (port chosen by the OS)."""
    config = fast_config(tmp_path / "data")
    app = create_app(config, environ=NO_ENV)
    load_support_token(config.token_path, environ=NO_ENV)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.mark.parametrize(("page", "script"), [("/docs", "SwaggerUIBundle"), ("/redoc", "Redoc")])
def test_the_docs_load_every_asset_from_the_server(served: str, page: str, script: str) -> None:
    with httpx.Client(base_url=served, timeout=10) as http:
        html = http.get(page)
        assert html.status_code == 200
        assert html.headers["content-type"].startswith("text/html")
        assert "cdn." not in html.text
        assert "fonts.googleapis" not in html.text
        parser = _Assets()
        parser.feed(html.text)
        assert len(parser.urls) >= 2
        for url in parser.urls:
            assert url.startswith("/"), f"{page} loads {url} from another host"
            asset = http.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 1000, url
        scripts = [u for u in parser.urls if u.endswith(".js")]
        assert any(script in http.get(u).text for u in scripts)
        assert "openapi.json" in html.text
        assert http.get("/openapi.json").json()["openapi"].startswith("3.1")  # Swagger UI 5 renders 3.1
