"""A phone written from docs/developer.md alone: activation, a push approval and a QR approval.

Nothing of tokensim signs or encodes here: the phone is plain ``httpx``, ``cryptography`` and the
standard library, doing what the guide's "be the IB Key phone" section says, against
``tokensim serve`` on a socket. If the docs and the server disagree, this test fails.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .real_server import Server, start_server, stop_server

PASSWORD = "correct horse battery staple"
NUMBER = "+15554440001"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = start_server(tmp_path_factory.mktemp("spec"))
    try:
        yield started
    finally:
        stop_server(started)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Phone:
    """The phone, as the guide describes it."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.registration = ""
        self.last_time = 0

    def public_pem(self) -> str:
        spki = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return spki.decode("ascii")

    def sign(self, data: bytes) -> str:
        return b64url(self.key.sign(data, ec.ECDSA(hashes.SHA256())))  # DER, then base64url

    def authorization(self, method: str, path: str) -> str:
        now = max(int(time.time() * 1000), self.last_time + 1)  # each request later than the last
        self.last_time = now
        lines = ["tokensim-ib-key-request", method, path, self.registration, str(now)]
        signature = self.sign("\n".join(lines).encode("ascii"))
        return f"IbKey registration={self.registration}, time={now}, signature={signature}"

    def list_requests(self) -> list[dict[str, Any]]:
        path = f"/v1/ib-key/{self.registration}/requests"
        reply = self.http.get(path, headers={"Authorization": self.authorization("GET", path)})
        assert reply.status_code == 200, reply.text
        requests: list[dict[str, Any]] = reply.json()["requests"]
        return requests

    def decide(self, request: dict[str, Any], approve: bool) -> httpx.Response:
        signed = dict(request) | {"decision": "approve" if approve else "deny"}
        canonical = json.dumps(signed, sort_keys=True, separators=(",", ":")).encode("ascii")
        body = {
            "request_id": request["id"],
            "approved": approve,
            "signature": self.sign(canonical),
            "key_id": self.registration,
        }
        path = "/v1/ib-key/decisions"
        return self.http.post(path, json=body, headers={"Authorization": self.authorization("POST", path)})


def _challenge(http: httpx.Client, username: str, mode: str) -> tuple[str, dict[str, Any]]:
    login = http.post("/v1/login", json={"username": username, "password": PASSWORD})
    assert login.status_code == 201, login.text
    device = next(d for d in login.json()["devices"] if d["kind"] == "ib-key")
    login_id = login.json()["login_id"]
    challenge = http.post(f"/v1/login/{login_id}/challenge", json={"device_id": device["id"], "mode": mode})
    assert challenge.status_code == 201, challenge.text
    return login_id, challenge.json()


def test_a_phone_built_from_the_guide_activates_and_approves_a_push_and_a_qr_login(server: Server) -> None:
    support = {"Authorization": f"Bearer {server.token()}"}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        created = http.post(
            "/v1/support/users",
            json={"username": "rosa", "password": PASSWORD, "phones": [NUMBER], "start_with_sms": False},
            headers=support,
        )
        assert created.status_code == 201, created.text
        enrolled = http.post("/v1/support/users/rosa/devices", json={"kind": "ib-key"}, headers=support)
        assert enrolled.status_code == 201, enrolled.text
        texts = http.get("/v1/outbox", params={"to": NUMBER}, headers=support).json()["messages"]
        token = re.findall(r"(?<!\d)\d{6}(?!\d)", texts[-1]["text"])[0]

        # Activation: the public key as SubjectPublicKeyInfo PEM; the reply's serial is the registration.
        phone = Phone(http)
        activated = http.post(
            "/v1/ib-key/activations",
            json={
                "username": "rosa",
                "token": token,
                "public_key": phone.public_pem(),
                "device_name": "spec",
            },
        )
        assert activated.status_code == 201, activated.text
        registration = activated.json()
        phone.registration = registration["serial"]
        assert {"secret", "suite", "totp_secret", "digits", "step", "algorithm"} <= set(registration)

        # Push: list with a signed request, sign the canonical JSON plus the decision.
        login_id, challenge = _challenge(http, "rosa", "push")
        pending = http.post(f"/v1/login/{login_id}/answer", json={"challenge_id": challenge["id"]})
        assert (pending.status_code, pending.json()["code"]) == (409, "push-pending")
        [request] = phone.list_requests()
        assert (request["id"], request["username"], request["action"]) == (challenge["id"], "rosa", "login")
        decided = phone.decide(request, approve=True)
        assert decided.json() == {"request_id": challenge["id"], "status": "approved"}
        session = http.post(f"/v1/login/{login_id}/answer", json={"challenge_id": challenge["id"]})
        assert session.status_code == 201, session.text
        assert session.json()["username"] == "rosa"
        assert phone.list_requests() == []

        # A recorded request sent again is refused, as the guide says.
        path = f"/v1/ib-key/{phone.registration}/requests"
        header = {"Authorization": phone.authorization("GET", path)}
        assert http.get(path, headers=header).status_code == 200
        assert http.get(path, headers=header).status_code == 401

        # QR: "tokensim-qr:" + base64url(canonical JSON of the request); the decision as for a push.
        login_id, challenge = _challenge(http, "rosa", "qr")
        payload: str = challenge["qr"]
        assert payload.startswith("tokensim-qr:")
        encoded = payload.removeprefix("tokensim-qr:")
        text = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        scanned = json.loads(text)
        assert text == json.dumps(scanned, sort_keys=True, separators=(",", ":")).encode()  # canonical
        assert (scanned["id"], scanned["username"]) == (challenge["id"], "rosa")
        assert phone.decide(scanned, approve=True).json()["status"] == "approved"
        session = http.post(f"/v1/login/{login_id}/answer", json={"challenge_id": challenge["id"]})
        assert session.status_code == 201, session.text

        # A denial signed as "approve" does not verify: 401, and the push stays open for the real answer.
        login_id, challenge = _challenge(http, "rosa", "push")
        [request] = phone.list_requests()
        forged = phone.decide(request | {"nonce": "not the server's"}, approve=False)
        assert (forged.status_code, forged.json()["code"]) == (401, "unauthorized")
        assert phone.decide(request, approve=False).json()["status"] == "denied"
        refused = http.post(f"/v1/login/{login_id}/answer", json={"challenge_id": challenge["id"]})
        assert (refused.status_code, refused.json()["code"]) == (403, "push-denied")


def test_the_openapi_says_the_same(server: Server) -> None:
    spec = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    scheme = spec["components"]["securitySchemes"]["IbKeyRequest"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    assert "tokensim-ib-key-request" in scheme["description"]
    listing = spec["paths"]["/v1/ib-key/{registration}/requests"]["get"]
    decisions = spec["paths"]["/v1/ib-key/decisions"]["post"]
    activation = spec["paths"]["/v1/ib-key/activations"]["post"]
    for operation in (listing, decisions):
        assert operation["security"] == [{"IbKeyRequest": []}]
        assert "401" in operation["responses"]
        assert "DER-encoded" in operation["description"]
    assert "tokensim-qr:" in decisions["description"]
    assert 'json.dumps(obj, sort_keys=True, separators=(",", ":"))' in decisions["description"]
    assert "SubjectPublicKeyInfo" in activation["description"]
    body = spec["components"]["schemas"]["PushDecisionBody"]["properties"]["signature"]
    assert "base64url without padding" in body["description"]
