from __future__ import annotations

import json

import pytest

from tokensim.protocol import Challenge, ChallengeForm, InvalidParameter, PushDecision, PushRequest, Response

REQUEST = PushRequest(
    id="req-1",
    username="alice",
    action="login",
    origin="203.0.113.7",
    nonce="n0nce",
    expires_at=1_700_000_600.0,
    details={"platform": "Client Portal"},
)


@pytest.mark.parametrize(
    "challenge",
    [
        Challenge(id="c1", device="d1", form=ChallengeForm.CODE, expires_at=10.0),
        Challenge(id="c2", device="d2", form=ChallengeForm.NUMERIC, expires_at=10.0, question="123456"),
        Challenge(id="c3", device="d3", form=ChallengeForm.GRID, expires_at=10.0, indices=(100, 50)),
        Challenge(id="c4", device="d4", form=ChallengeForm.OOB, expires_at=10.0, channel="sms"),
        Challenge(id="c5", device="d5", form=ChallengeForm.PUSH, expires_at=10.0, request=REQUEST),
        Challenge(id="c6", device="d6", form=ChallengeForm.STATIC, expires_at=10.0),
    ],
)
def test_challenge_round_trips_through_json_text(challenge: Challenge) -> None:
    text = json.dumps(challenge.to_json())
    assert Challenge.from_json(json.loads(text)) == challenge


def test_challenge_json_keys_are_explicit() -> None:
    data = Challenge(id="c", device="d", form=ChallengeForm.GRID, expires_at=1, indices=(3, 4)).to_json()
    assert data == {"id": "c", "device": "d", "form": "grid", "expires_at": 1, "indices": [3, 4]}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "JSON object"),
        ({"id": "c", "device": "d", "expires_at": 1}, "missing 'form'"),
        ({"id": "c", "device": "d", "form": "smoke", "expires_at": 1}, "unknown form"),
        ({"id": 1, "device": "d", "form": "code", "expires_at": 1}, "'id' has the wrong type"),
        ({"id": "c", "device": "d", "form": "code", "expires_at": True}, "'expires_at' has the wrong type"),
        ({"id": "c", "device": "d", "form": "grid", "expires_at": 1, "indices": ["1"]}, "indices"),
        ({"id": "c", "device": "d", "form": "numeric", "expires_at": 1}, "needs a question"),
    ],
)
def test_malformed_challenge_json_is_refused_clearly(data: object, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        Challenge.from_json(data)


def test_response_round_trip_and_repr_hides_the_answer() -> None:
    response = Response(challenge_id="c1", answer="87654321")
    assert Response.from_json(response.to_json()) == response
    assert "87654321" not in repr(response)


def test_push_decision_round_trip() -> None:
    decision = PushDecision(request_id="req-1", approved=True, signature=b"\x30\x45\x00\xff", key_id="k1")
    data = json.loads(json.dumps(decision.to_json()))
    assert "=" not in data["signature"]
    assert PushDecision.from_json(data) == decision
    with pytest.raises(InvalidParameter, match="base64url"):
        PushDecision.from_json(data | {"signature": "***"})
    with pytest.raises(InvalidParameter, match="approved"):
        PushDecision.from_json(data | {"approved": "yes"})


def test_push_request_round_trip_and_signing_bytes_cover_every_field() -> None:
    assert PushRequest.from_json(REQUEST.to_json()) == REQUEST
    base = REQUEST.signing_bytes(approved=True)
    assert base != REQUEST.signing_bytes(approved=False)
    for key, value in [("origin", "198.51.100.1"), ("nonce", "other"), ("action", "withdrawal")]:
        changed = PushRequest.from_json(REQUEST.to_json() | {key: value})
        assert changed.signing_bytes(approved=True) != base
    with pytest.raises(InvalidParameter, match="details"):
        PushRequest.from_json(REQUEST.to_json() | {"details": {"a": 1}})
