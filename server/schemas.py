"""The JSON bodies the API accepts, as strict pydantic models.

Strict: a field of the wrong JSON type is refused rather than coerced (``"5"`` is not a number,
``1`` is not a string), and an unknown field is refused, so a typo in a client never passes silently.
Lengths are bounded so no field can carry a large payload.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ActivationAnswerBody",
    "AnswerBody",
    "ChallengeBody",
    "CreateUserBody",
    "EnrollBody",
    "IbKeyActivationBody",
    "LoginBody",
    "PushDecisionBody",
    "StartActivationBody",
    "TemporaryPasscodeBody",
]

_Short = Annotated[str, Field(min_length=1, max_length=128)]
_Id = Annotated[str, Field(min_length=1, max_length=80)]
_Answer = Annotated[str, Field(min_length=1, max_length=256)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class CreateUserBody(_Body):
    """A new user (support)."""

    username: Annotated[str, Field(min_length=2, max_length=64, examples=["alice"])]
    password: Annotated[str, Field(min_length=1, max_length=256)]
    phones: Annotated[list[Annotated[str, Field(max_length=32)]], Field(max_length=8)] = []
    jurisdiction: Annotated[str, Field(min_length=2, max_length=2, examples=["US"])] = "US"
    primary_user: bool = True
    equity: Annotated[Decimal, Field(strict=False, ge=0, max_digits=20, decimal_places=2)] = Decimal(0)
    entity: Annotated[str, Field(max_length=128)] | None = None
    #: An active SMS device on the first phone (the server's ``signup_sms`` when absent).
    start_with_sms: bool | None = None


class EnrollBody(_Body):
    """A device to enroll (support)."""

    kind: Annotated[str, Field(max_length=24, examples=["dsc-plus"])]
    pin: Annotated[str, Field(max_length=16)] | None = None
    number: Annotated[str, Field(max_length=32)] | None = None
    label: Annotated[str, Field(max_length=64)] | None = None
    firmware: Annotated[str, Field(max_length=16)] = "current"
    #: The id of the lost, damaged or broken device this one replaces.
    replaces: Annotated[str, Field(max_length=80)] | None = None


class TemporaryPasscodeBody(_Body):
    """A temporary passcode to issue (support), after a recorded identity verification."""

    verification_id: Annotated[str, Field(min_length=1, max_length=80)]
    length: Annotated[int, Field(ge=10, le=32)] | None = None


class StartActivationBody(_Body):
    """Which mode an activation challenge uses (the kind's default when absent)."""

    mode: Annotated[str, Field(max_length=16)] | None = None


class ActivationAnswerBody(_Body):
    """The answer to an activation challenge."""

    challenge_id: _Id
    answer: _Answer


class LoginBody(_Body):
    """Username and password, and where the login is for."""

    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=256)]
    platform: Annotated[str, Field(max_length=16)] = "portal"


class ChallengeBody(_Body):
    """The device chosen for the second factor, and optionally how it answers."""

    device_id: _Id
    mode: Annotated[str, Field(max_length=16)] | None = None


class AnswerBody(_Body):
    """The answer to a login challenge; no ``answer`` for a push or QR challenge."""

    challenge_id: _Id
    answer: _Answer | None = None


class IbKeyActivationBody(_Body):
    """What an IB Key app sends to activate (:class:`tokensim.protocol.IbKeyActivation`)."""

    username: Annotated[str, Field(min_length=1, max_length=64)]
    token: _Short
    public_key: Annotated[
        str,
        Field(
            min_length=1,
            max_length=4096,
            description="The registration's ECDSA P-256 public key: PEM of the X.509 SubjectPublicKeyInfo "
            "('-----BEGIN PUBLIC KEY-----').",
        ),
    ]
    device_name: Annotated[str, Field(max_length=64)] = "phone"


class PushDecisionBody(_Body):
    """A phone's signed decision (:class:`tokensim.protocol.PushDecision`)."""

    request_id: _Id
    approved: bool
    signature: Annotated[
        str,
        Field(
            min_length=1,
            max_length=256,
            description="ECDSA P-256 with SHA-256, DER, base64url without padding, over the canonical JSON "
            'of the request plus "decision": "approve" or "deny" (see the route\'s description).',
        ),
    ]
    key_id: Annotated[
        str, Field(min_length=1, max_length=80, description="The registration id (its serial).")
    ]
