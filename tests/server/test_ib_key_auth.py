"""IB Key phone requests are signed by the registration key: an outsider with plain httpx gets nothing.

Against ``tokensim serve`` on a socket: listing a phone's pushes and sending decisions need the
``Authorization: IbKey ...`` header signed by the registration's key; without it, with another key,
with a replayed or stale header, the server answers 401 and counts nothing against the user, and
the push stays open for the real phone.
"""

from __future__ import annotations

import base64
import time

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tokensim.emulators.devices.ib_key import IbKeyApp
from tokensim.protocol.phone_auth import RequestAuth, request_signing_bytes, requests_path
from tokensim.server.client import TokensimClient
from tokensim.server.errors import Unauthorized
from tokensim.server.service import Service
from tokensim.server.testing.harness import Enrolled, Harness
from tokensim.server.verify import FULL_SCOPE

from .conftest import PASSWORD
from .race_helpers import (
    THREADS,
    enroll_ib_key,
    race,
    two_services,  # noqa: F401 - the ``services`` fixture (SQLite and PostgreSQL)
)
from .real_server import Server


def _enrolled(remote: TokensimClient, username: str) -> tuple[Harness, Enrolled, IbKeyApp, str]:
    remote.create_user(username, PASSWORD, phones=["+15553330001"], start_with_sms=False)
    harness = Harness(remote)
    enrolled = harness.enroll(username, "ib-key", pin="2468")
    app = harness.app()
    return harness, enrolled, app, app.key_id(username)


def _forged(key: ec.EllipticCurvePrivateKey, method: str, path: str, registration: str) -> str:
    """An ``IbKey`` header made exactly as documented, but with a key that is not the registration's."""
    time_ms = int(time.time() * 1000)
    signature = key.sign(
        request_signing_bytes(method, path, registration, time_ms), ec.ECDSA(hashes.SHA256())
    )
    return RequestAuth(registration, time_ms, signature).header()


def test_an_outsider_can_neither_list_nor_decide_and_counts_nothing(
    server: Server, remote: TokensimClient
) -> None:
    harness, enrolled, app, key_id = _enrolled(remote, "olga")
    started = remote.login("olga", PASSWORD)
    challenge = remote.challenge(started.login_id, enrolled.device_id, mode="push")
    listing = requests_path(key_id)
    other_key = ec.generate_private_key(ec.SECP256R1())
    decision_body = {
        "request_id": challenge.id,
        "approved": True,
        "signature": base64.urlsafe_b64encode(b"\x30\x06\x02\x01\x01\x02\x01\x01").rstrip(b"=").decode(),
        "key_id": key_id,
    }
    with httpx.Client(base_url=server.url) as attacker:
        refusals = [
            attacker.get(listing),
            attacker.get(listing, headers={"Authorization": "IbKey nonsense"}),
            attacker.get(listing, headers={"Authorization": _forged(other_key, "GET", listing, key_id)}),
            attacker.get(
                requests_path("IBK0000000000"),
                headers={
                    "Authorization": _forged(
                        other_key, "GET", requests_path("IBK0000000000"), "IBK0000000000"
                    )
                },
            ),
        ]
        # Six forged decisions: more than the device's 5 failures and the challenge's 3 attempts.
        for _ in range(3):
            refusals.append(attacker.post("/v1/ib-key/decisions", json=decision_body))
            forged = _forged(other_key, "POST", "/v1/ib-key/decisions", key_id)
            refusals.append(
                attacker.post("/v1/ib-key/decisions", json=decision_body, headers={"Authorization": forged})
            )
    assert [(r.status_code, r.json()["code"]) for r in refusals] == [(401, "unauthorized")] * len(refusals)
    assert all("olga" not in r.text and challenge.id not in r.text for r in refusals)

    # The real phone still finds the push open, and approves it; the device counted no failure.
    [request] = remote.push_requests(key_id, app.listing_auth(key_id))
    assert (request.id, request.username) == (challenge.id, "olga")
    app.receive_push(request)
    assert remote.decide(app.approve(request.id, pin="2468"), app.decision_auth(key_id)) == "approved"
    assert remote.answer(started.login_id, challenge.id).scope == FULL_SCOPE
    started = remote.login("olga", PASSWORD)
    numeric = remote.challenge(started.login_id, enrolled.device_id, mode="numeric")
    wrong = remote.request(
        "POST",
        f"/v1/login/{started.login_id}/answer",
        json={"challenge_id": numeric.id, "answer": "00000000"},
    )
    assert (wrong.status_code, wrong.json()["attempts_remaining"]) == (401, 4)
    assert [d.locked_until for d in remote.user("olga").devices] == [None]
    del harness


def test_a_signed_listing_cannot_be_replayed_nor_sent_late(server: Server, remote: TokensimClient) -> None:
    _harness, enrolled, app, key_id = _enrolled(remote, "piet")
    started = remote.login("piet", PASSWORD)
    remote.challenge(started.login_id, enrolled.device_id, mode="push")
    listing = requests_path(key_id)
    header = app.listing_auth(key_id).header()
    with httpx.Client(base_url=server.url) as http:
        first = http.get(listing, headers={"Authorization": header})
        replayed = http.get(listing, headers={"Authorization": header})
        assert first.status_code == 200
        assert [r["username"] for r in first.json()["requests"]] == ["piet"]
        assert (replayed.status_code, replayed.json()["code"]) == (401, "unauthorized")
        assert "replayed" in replayed.json()["detail"]

        # Signed by the right key but ten minutes old (or ahead): outside the 300 s window.
        private = app._registrations["piet"].private_key  # the phone's own key, as a stolen backup would be
        for skew in (-600_000, 600_000):
            time_ms = int(time.time() * 1000) + skew
            signed = private.sign(
                request_signing_bytes("GET", listing, key_id, time_ms), ec.ECDSA(hashes.SHA256())
            )
            late = http.get(listing, headers={"Authorization": RequestAuth(key_id, time_ms, signed).header()})
            assert (late.status_code, late.json()["code"]) == (401, "unauthorized")
            assert "300 s" in late.json()["detail"]

        # A header signed for the listing does not serve for a decision, nor for another registration.
        header = app.listing_auth(key_id).header()
        decision = http.post("/v1/ib-key/decisions", headers={"Authorization": header}, json={})
        assert decision.status_code in (401, 422)
        other = http.get(
            requests_path("IBK0000000000"), headers={"Authorization": app.listing_auth(key_id).header()}
        )
        assert (other.status_code, other.json()["code"]) == (401, "unauthorized")


def test_a_decision_with_a_bad_signature_from_the_phone_is_refused_and_the_push_stays_open(
    remote: TokensimClient,
) -> None:
    from dataclasses import replace

    _harness, enrolled, app, key_id = _enrolled(remote, "quin")
    started = remote.login("quin", PASSWORD)
    challenge = remote.challenge(started.login_id, enrolled.device_id, mode="push")
    [request] = remote.push_requests(key_id, app.listing_auth(key_id))
    app.receive_push(request)
    decision = app.approve(request.id, pin="2468")
    for _ in range(6):
        refused = remote.request(
            "POST",
            "/v1/ib-key/decisions",
            json=replace(decision, approved=False).to_json(),  # "approve" signed, "deny" sent
            headers={"Authorization": app.decision_auth(key_id).header()},
        )
        assert (refused.status_code, refused.json()["code"]) == (401, "unauthorized")
    unknown = remote.request(
        "POST",
        "/v1/ib-key/decisions",
        json=replace(decision, request_id="no-such-request").to_json(),
        headers={"Authorization": app.decision_auth(key_id).header()},
    )
    assert (unknown.status_code, unknown.json()["code"]) == (
        404,
        "not-found",
    )  # an authenticated phone learns it
    assert remote.decide(decision, app.decision_auth(key_id)) == "approved"
    assert remote.answer(started.login_id, challenge.id).scope == FULL_SCOPE
    audited = [(r.event, r.outcome) for r in remote.audit(username="quin", event="push.decision")]
    assert audited == [("push.decision", "bad-signature")] * 6 + [("push.decision", "approved")]


def test_the_documented_signing_example_is_what_the_phone_signs() -> None:
    from pathlib import Path

    from tokensim.protocol.messages import PushRequest
    from tokensim.server.http.phone_docs import IB_KEY_DECISIONS_DOC

    request = PushRequest("r1", "alice", "login", "203.0.113.7", "n", 1798021253.0, {"platform": "portal"})
    example = request.signing_bytes(True).decode("ascii")
    guide = (Path(__file__).resolve().parents[2] / "docs" / "developer.md").read_text(encoding="utf-8")
    assert f"\n    {example}\n" in IB_KEY_DECISIONS_DOC
    assert f"\n{example}\n" in guide


def test_copies_of_one_signed_request_sent_at_once_are_taken_once(services: tuple[Service, Service]) -> None:
    first, second = services
    _device_id, app = enroll_ib_key(first)
    key_id = app.key_id("alice")
    header = app.listing_auth(key_id).header()
    path = requests_path(key_id)
    calls = [
        (lambda s=service: s.challenges.authenticate_phone(header, "GET", path, registration=key_id))
        for service in [first, second] * (THREADS // 2)
    ]
    wins, errors = race(calls)
    assert wins == [key_id]
    assert all(isinstance(e, Unauthorized) for e in errors), {type(e).__name__ for e in errors}
    assert len(errors) == THREADS - 1
    # The next request, with a later time, is taken.
    assert second.challenges.authenticate_phone(app.listing_auth(key_id).header(), "GET", path) == key_id
