"""Values that cross a wire between devices, the server and clients.

Each is a frozen dataclass with an explicit JSON mapping: the keys are written out in ``to_json``
and read back in ``from_json``, never derived from the order of the fields, so renaming a field
never changes the wire.

A challenge has a form that says what the user does with it:

============  =====================================================  =========================
form          devices                                                payload
============  =====================================================  =========================
``code``      DSC (no input: the device shows a code)                nothing
``numeric``   DSC+, Gold, Platinum, IB Key challenge/response        ``question``
``grid``      Security Code Card, Online Security Code Card          ``indices``
``push``      IB Key approval, signed on the phone                   ``request``
``oob``       SMS or voice code                                      ``channel``
``static``    temporary passcode                                     nothing
============  =====================================================  =========================
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tokensim.protocol.errors import InvalidParameter

__all__ = [
    "QR_PREFIX",
    "Challenge",
    "ChallengeForm",
    "PushDecision",
    "PushRequest",
    "Response",
    "parse_qr_payload",
    "qr_payload",
]

#: What every QR login payload starts with; what follows is base64url of the request's canonical JSON.
QR_PREFIX = "tokensim-qr:"


class ChallengeForm(enum.Enum):
    """What a challenge asks the user to do; see the module docstring."""

    CODE = "code"
    NUMERIC = "numeric"
    GRID = "grid"
    PUSH = "push"
    OOB = "oob"
    STATIC = "static"


def _get(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    if key not in data:
        raise InvalidParameter(f"{what}: missing {key!r}")
    value = data[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # JSON true/false are Python bools, which are ints too: accept them only where a bool is wanted.
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise InvalidParameter(f"{what}: {key!r} has the wrong type")
    return value


def _mapping(data: object, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidParameter(f"{what}: expected a JSON object")
    return data


@dataclass(frozen=True, slots=True)
class PushRequest:
    """A login or action waiting for approval on the IB Key phone.

    Attributes:
        id: the request's identifier.
        username: whose login it is.
        action: what is being approved (``"login"``, ``"withdrawal"``, ...).
        origin: where the request came from, as shown to the user (for example an IP address).
        nonce: a random value from the server, so every signature is for one request only.
        expires_at: Unix time after which an approval is refused.
        details: further lines shown on the phone.
    """

    id: str
    username: str
    action: str
    origin: str
    nonce: str
    expires_at: float
    details: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this request."""
        return {
            "id": self.id,
            "username": self.username,
            "action": self.action,
            "origin": self.origin,
            "nonce": self.nonce,
            "expires_at": self.expires_at,
            "details": dict(self.details),
        }

    @classmethod
    def from_json(cls, data: object) -> PushRequest:
        """Read a request from its JSON object.

        Raises:
            InvalidParameter: a key is missing or has the wrong type.
        """
        obj = _mapping(data, "push request")
        details = obj.get("details", {})
        if not isinstance(details, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in details.items()
        ):
            raise InvalidParameter("push request: 'details' must map strings to strings")
        return cls(
            id=_get(obj, "id", str, "push request"),
            username=_get(obj, "username", str, "push request"),
            action=_get(obj, "action", str, "push request"),
            origin=_get(obj, "origin", str, "push request"),
            nonce=_get(obj, "nonce", str, "push request"),
            expires_at=float(_get(obj, "expires_at", (int, float), "push request")),
            details=dict(details),
        )

    def signing_bytes(self, approved: bool) -> bytes:
        """The exact bytes a phone signs to approve or deny this request.

        Canonical JSON (sorted keys, no spaces) of the request plus the decision, so any change to
        any field, or to the decision, changes what was signed.
        """
        body = self.to_json() | {"decision": "approve" if approved else "deny"}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def qr_payload(request: PushRequest) -> str:
    """The text of the QR code a login page shows for ``request``.

    ``"tokensim-qr:"`` then the base64url (no padding) of the request's canonical JSON (sorted keys,
    no spaces), so the phone that scans it signs exactly the request the server issued.

    Example:
        >>> request = PushRequest("r1", "alice", "login", "203.0.113.7", "n", 1.0)
        >>> parse_qr_payload(qr_payload(request)) == request
        True
    """
    body = json.dumps(request.to_json(), sort_keys=True, separators=(",", ":")).encode()
    return QR_PREFIX + base64.urlsafe_b64encode(body).rstrip(b"=").decode("ascii")


def parse_qr_payload(text: str) -> PushRequest:
    """Read the push request out of a scanned QR payload (see :func:`qr_payload`).

    White space around the payload is ignored.

    Raises:
        InvalidParameter: the text does not start with ``"tokensim-qr:"``, is not base64url, is not
            JSON, or is not a push request.
    """
    text = text.strip()
    if not text.startswith(QR_PREFIX):
        raise InvalidParameter(f"QR payload: must start with {QR_PREFIX!r}")
    encoded = text[len(QR_PREFIX) :]
    try:
        body = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidParameter("QR payload: not base64url") from e
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidParameter("QR payload: not JSON") from e
    return PushRequest.from_json(data)


@dataclass(frozen=True, slots=True)
class PushDecision:
    """A phone's signed answer to a :class:`PushRequest`.

    Attributes:
        request_id: the request answered.
        approved: approve or deny.
        signature: ECDSA P-256 signature (DER) over ``PushRequest.signing_bytes(approved)``.
        key_id: which registration's key signed it.
    """

    request_id: str
    approved: bool
    signature: bytes
    key_id: str

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this decision; the signature is base64url without padding."""
        return {
            "request_id": self.request_id,
            "approved": self.approved,
            "signature": base64.urlsafe_b64encode(self.signature).rstrip(b"=").decode(),
            "key_id": self.key_id,
        }

    @classmethod
    def from_json(cls, data: object) -> PushDecision:
        """Read a decision from its JSON object.

        Raises:
            InvalidParameter: a key is missing, has the wrong type, or the signature is not base64url.
        """
        obj = _mapping(data, "push decision")
        text = _get(obj, "signature", str, "push decision")
        try:
            signature = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError) as e:
            raise InvalidParameter("push decision: 'signature' is not base64url") from e
        return cls(
            request_id=_get(obj, "request_id", str, "push decision"),
            approved=_get(obj, "approved", bool, "push decision"),
            signature=signature,
            key_id=_get(obj, "key_id", str, "push decision"),
        )


@dataclass(frozen=True, slots=True)
class Challenge:
    """What the server asks a user to answer with one device.

    Attributes:
        id: the challenge's identifier; an answer names it.
        device: the identifier of the device it is for.
        form: what the user does (see :class:`ChallengeForm`).
        expires_at: Unix time after which it cannot be answered.
        question: the digits to type into the device (``numeric``).
        indices: the card cells asked for (``grid``).
        channel: ``"sms"`` or ``"voice"`` (``oob``).
        request: the request to approve (``push``).
    """

    id: str
    device: str
    form: ChallengeForm
    expires_at: float
    question: str | None = None
    indices: tuple[int, ...] = ()
    channel: str | None = None
    request: PushRequest | None = None

    def __post_init__(self) -> None:
        if self.form is ChallengeForm.NUMERIC and not self.question:
            raise InvalidParameter("a numeric challenge needs a question")
        if self.form is ChallengeForm.GRID and len(self.indices) < 1:
            raise InvalidParameter("a grid challenge needs indices")
        if self.form is ChallengeForm.PUSH and self.request is None:
            raise InvalidParameter("a push challenge needs a request")

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this challenge; keys that do not apply to its form are left out."""
        data: dict[str, Any] = {
            "id": self.id,
            "device": self.device,
            "form": self.form.value,
            "expires_at": self.expires_at,
        }
        if self.question is not None:
            data["question"] = self.question
        if self.indices:
            data["indices"] = list(self.indices)
        if self.channel is not None:
            data["channel"] = self.channel
        if self.request is not None:
            data["request"] = self.request.to_json()
        return data

    @classmethod
    def from_json(cls, data: object) -> Challenge:
        """Read a challenge from its JSON object.

        Raises:
            InvalidParameter: a key is missing, has the wrong type, or the form is unknown.
        """
        obj = _mapping(data, "challenge")
        form_name = _get(obj, "form", str, "challenge")
        try:
            form = ChallengeForm(form_name)
        except ValueError as e:
            raise InvalidParameter(f"challenge: unknown form {form_name!r}") from e
        indices = obj.get("indices", [])
        if not isinstance(indices, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in indices
        ):
            raise InvalidParameter("challenge: 'indices' must be a list of integers")
        question = obj.get("question")
        channel = obj.get("channel")
        if question is not None and not isinstance(question, str):
            raise InvalidParameter("challenge: 'question' must be a string")
        if channel is not None and not isinstance(channel, str):
            raise InvalidParameter("challenge: 'channel' must be a string")
        request = obj.get("request")
        return cls(
            id=_get(obj, "id", str, "challenge"),
            device=_get(obj, "device", str, "challenge"),
            form=form,
            expires_at=float(_get(obj, "expires_at", (int, float), "challenge")),
            question=question,
            indices=tuple(indices),
            channel=channel,
            request=None if request is None else PushRequest.from_json(request),
        )


@dataclass(frozen=True, slots=True)
class Response:
    """A user's answer to a :class:`Challenge`.

    Attributes:
        challenge_id: the challenge answered.
        answer: what the user typed (a code, a response, card values, a passcode); for a push, the
            decision travels as :class:`PushDecision` instead.
    """

    challenge_id: str
    answer: str

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this response."""
        return {"challenge_id": self.challenge_id, "answer": self.answer}

    @classmethod
    def from_json(cls, data: object) -> Response:
        """Read a response from its JSON object.

        Raises:
            InvalidParameter: a key is missing or has the wrong type.
        """
        obj = _mapping(data, "response")
        return cls(
            challenge_id=_get(obj, "challenge_id", str, "response"),
            answer=_get(obj, "answer", str, "response"),
        )

    def __repr__(self) -> str:
        # The answer is a secret for as long as the challenge is open: keep it out of logs.
        return f"Response(challenge_id={self.challenge_id!r}, answer=<{len(self.answer)} characters>)"
