"""The JSON bodies the API accepts, as strict pydantic models, and the constraints they declare.

Strict: a field of the wrong JSON type is refused rather than coerced (``"5"`` is not a number,
``1`` is not a string), and an unknown field is refused, so a typo in a client never passes silently.
Lengths are bounded so no field can carry a large payload.

Every rule the server checks on a value alone is declared here too (enums, patterns, bounds), so
the OpenAPI document says it and a request the document allows is never refused as invalid: device
kinds and modes, PINs, usernames, password lengths, phone numbers, amounts. The patterns use ASCII
classes only, so a JSON Schema validator and Python's ``re`` read them the same way.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from tokensim.server.money import AMOUNT_PATTERN

__all__ = [
    "NOT_BLANK",
    "SPACES",
    "ActivationAnswerBody",
    "ActivationBody",
    "Amount",
    "AmountBody",
    "AnswerBody",
    "BankBody",
    "ChallengeBody",
    "CreateUserBody",
    "CredentialsBody",
    "DepositBody",
    "DeviceRequestBody",
    "DscPlusRequest",
    "EmailBody",
    "EnrollBody",
    "EnrollCard",
    "EnrollPhoneDevice",
    "EnrollPinDevice",
    "IbKeyActivationBody",
    "IbKeyRecoveryBody",
    "IdentityBody",
    "IdentityCheckBody",
    "InstantActivationBody",
    "IpRestrictionsBody",
    "LoginBody",
    "MigrationAnswerBody",
    "MigrationBody",
    "Mode",
    "ModeBody",
    "NewPassword",
    "PennyStocksBody",
    "Phone",
    "PhoneOs",
    "Pin",
    "PinChangeBody",
    "PinResetBody",
    "PushDecisionBody",
    "RecoveryBody",
    "ReportBody",
    "ShareAnswerBody",
    "ShareBody",
    "StartActivationBody",
    "StepUpBody",
    "TemporaryPasscodeBody",
    "TokenAnswerBody",
    "Username",
]

_EQUITY_PATTERN = r"^(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,2})?$"
#: Every challenge mode a device kind answers (which kind answers which: ``verify.POLICIES``).
Mode = Literal["grid", "code", "numeric", "push", "qr", "sms", "voice"]
#: A 4-digit PIN.
Pin = Annotated[str, Field(pattern=r"^[0-9]{4}$", examples=["1234"])]
#: An E.164 phone number.
Phone = Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$", max_length=16, examples=["+15551230001"])]
#: A username as accounts are created with (login takes any string, and refuses unknown ones alike).
Username = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$", examples=["alice"])]
#: A password as accounts are created with (NIST SP 800-63B: 8 to 256 characters).
NewPassword = Annotated[str, Field(min_length=8, max_length=256)]
#: The characters ``str.strip`` and ``re``'s ``\\s`` take for whitespace, as a class body.
#: Somewhere in the text, a character that is not whitespace: :data:`NOT_BLANK`.
SPACES = r"\t\n\v\f\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = f"[^{SPACES}]"

_Short = Annotated[str, Field(min_length=1, max_length=128)]
_Id = Annotated[str, Field(min_length=1, max_length=80)]
_Answer = Annotated[str, Field(min_length=1, max_length=256)]
_Name = Annotated[str, Field(min_length=1, max_length=64)]
_Password = Annotated[str, Field(min_length=1, max_length=256)]


def _plain_amount(value: str) -> str:
    if not re.fullmatch(AMOUNT_PATTERN, value):
        raise ValueError(
            "a plain decimal amount such as '2500.00': ASCII digits, at most two decimals, no sign,"
            " exponent, separator or space, above 0 and below 10**15"
        )
    return value


#: A positive USD amount: a string matching :data:`AMOUNT_PATTERN` (declared and checked).
Amount = Annotated[
    str,
    Field(min_length=1, max_length=24),
    AfterValidator(_plain_amount),
    WithJsonSchema({"type": "string", "pattern": AMOUNT_PATTERN, "maxLength": 24, "examples": ["25000.00"]}),
]


def _whole(value: object) -> object:
    # JSON Schema counts 30.0 as an integer; strict pydantic would not.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _equity(value: object) -> object:
    # A string is a plain decimal; a JSON number passes on to Decimal's own checks (ge, digits).
    if isinstance(value, str) and not re.fullmatch(_EQUITY_PATTERN, value):
        raise ValueError("equity is a plain decimal such as '25000.00' (no sign, exponent or separator)")
    return value


_Equity = Annotated[
    Decimal,
    BeforeValidator(_equity),
    Field(strict=False, ge=0, lt=Decimal(10) ** 15, max_digits=20, decimal_places=2),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "exclusiveMaximum": 10**15, "multipleOf": 0.01},
                {"type": "string", "pattern": _EQUITY_PATTERN},
            ],
            "examples": ["25000.00"],
        }
    ),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class CreateUserBody(_Body):
    """A new user (support)."""

    username: Username
    password: NewPassword
    phones: Annotated[list[Phone], Field(max_length=8, json_schema_extra={"uniqueItems": True})] = []
    jurisdiction: Annotated[str, Field(pattern=r"^[A-Z]{2}$", examples=["US"])] = "US"
    primary_user: bool = True
    equity: _Equity = Decimal(0)
    entity: Annotated[str, Field(max_length=128)] | None = None
    #: An active SMS device on the first phone (the server's ``signup_sms`` when absent).
    start_with_sms: bool | None = None


class _EnrollBase(_Body):
    label: Annotated[str, Field(max_length=64)] | None = None
    firmware: Literal["current", "legacy"] = "current"
    #: The id of the lost, damaged or broken device this one replaces.
    replaces: Annotated[str, Field(max_length=80)] | None = None


class EnrollPinDevice(_EnrollBase):
    """A DSC, DSC+, Gold or Platinum: its 4-digit PIN."""

    kind: Literal["dsc", "dsc-plus", "gold", "platinum"]
    pin: Pin


class EnrollPhoneDevice(_EnrollBase):
    """An IB Key registration or an SMS phone: one of the user's verified numbers (the first when absent)."""

    kind: Literal["ib-key", "phone"]
    number: Phone | None = None


class EnrollCard(_EnrollBase):
    """A Security Code Card or an Online Security Code Card: no PIN, no number."""

    kind: Literal["scc", "online-scc"]


#: A device to enroll (support); ``kind`` says which fields it takes.
EnrollBody = Annotated[EnrollPinDevice | EnrollPhoneDevice | EnrollCard, Field(discriminator="kind")]


class TemporaryPasscodeBody(_Body):
    """A temporary passcode to issue (support), after a recorded identity verification."""

    verification_id: Annotated[str, Field(min_length=1, max_length=80)]
    length: Annotated[int, Field(ge=10, le=32), BeforeValidator(_whole)] | None = None


class StartActivationBody(_Body):
    """Which mode an activation challenge uses (the kind's default when absent)."""

    mode: Mode | None = None


class ActivationAnswerBody(_Body):
    """The answer to an activation challenge."""

    challenge_id: _Id
    answer: _Answer


class LoginBody(_Body):
    """Username and password, and where the login is for."""

    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=256)]
    platform: Literal["portal", "trading", "mobile"] = "portal"


class ChallengeBody(_Body):
    """The device chosen for the second factor, and optionally how it answers."""

    device_id: _Id
    mode: Mode | None = None


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
            pattern=r"^-----BEGIN PUBLIC KEY-----\r?\n(?:[A-Za-z0-9+/=]{1,76}\r?\n)+"
            r"-----END PUBLIC KEY-----\s*$",
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
            min_length=2,
            max_length=256,
            pattern=r"^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2,3})?$",
            description="ECDSA P-256 with SHA-256, DER, base64url without padding, over the canonical JSON "
            'of the request plus "decision": "approve" or "deny" (see the route\'s description).',
        ),
    ]
    key_id: Annotated[
        str, Field(min_length=1, max_length=80, description="The registration id (its serial).")
    ]


# -- the Secure Login System routes' bodies ----------------------------------------------------------


class StepUpBody(_Body):
    """The device to answer and what for (``withdrawal``, ``bank`` or ``email``)."""

    device_id: _Id
    action: Literal["withdrawal", "bank", "email"]
    mode: Mode | None = None


def _present(value: str | None) -> str:
    if value is None:
        raise ValueError("send a string or leave the field out")
    return value


def _answer_needs_challenge(schema: dict[str, Any]) -> None:
    schema["dependentRequired"] = {"answer": ["challenge_id"]}
    for name in ("challenge_id", "answer"):
        schema["properties"][name].pop("default", None)  # absent, never null


class AmountBody(_Body):
    """A withdrawal: the amount and, unless opted out, the answer to a ``withdrawal`` challenge.

    An ``answer`` comes with its ``challenge_id``; either is a string or left out (never null), so
    the document can say so with ``dependentRequired``.
    """

    model_config = ConfigDict(json_schema_extra=_answer_needs_challenge)

    amount_usd: Amount
    challenge_id: Annotated[
        _Id | None,
        AfterValidator(_present),
        WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 80}),
    ] = None
    answer: Annotated[
        _Answer | None,
        AfterValidator(_present),
        WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 256}),
    ] = None


class DepositBody(_Body):
    """A deposit: amount and method (``ach``, ``eft``, ``wire``, ``check``)."""

    amount_usd: Amount
    method: Literal["ach", "eft", "wire", "check"]


class EmailBody(_Body):
    """A new email address and the answer to an ``email`` challenge."""

    email: Annotated[
        str,
        Field(
            min_length=3,
            max_length=254,
            pattern=f"^[^@{SPACES}]{{1,64}}@[^@{SPACES}]{{1,188}}\\.[A-Za-z]{{2,24}}$",
            examples=["alice@example.com"],
        ),
    ]
    challenge_id: _Id
    answer: _Answer | None = None


class BankBody(_Body):
    """New bank instructions and the answer to a ``bank`` challenge."""

    instructions: Annotated[str, Field(min_length=1, max_length=1024, pattern=NOT_BLANK)]
    challenge_id: _Id
    answer: _Answer | None = None


class IpRestrictionsBody(_Body):
    """The addresses trading logins may come from (empty: anywhere)."""

    addresses: Annotated[
        list[
            Annotated[
                str,
                Field(max_length=45),
                WithJsonSchema(
                    {"type": "string", "maxLength": 45, "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}
                ),
            ]
        ],
        Field(max_length=32),
    ]


class PennyStocksBody(_Body):
    """Penny-stock trading permission on or off."""

    enabled: bool


class ShareBody(_Body):
    """The owner's credentials and the device to share."""

    owner: _Name
    password: _Password
    device_id: _Id
    mode: Mode | None = None


class ShareAnswerBody(_Body):
    """The answer of the owner's device."""

    challenge_id: _Id
    answer: _Answer | None = None


class DscPlusRequest(_Body):
    """A DSC+ with the PIN it will show (code card, DSC, Gold and Platinum are no longer issued)."""

    kind: Literal["dsc-plus"]
    pin: Pin


#: A device to mail to the user: a DSC+ with its PIN, the one kind a user may still request.
DeviceRequestBody = DscPlusRequest


class ModeBody(_Body):
    """How the device answers (its default when absent)."""

    mode: Mode | None = None


class ActivationBody(_Body):
    """The answer to an activation challenge."""

    challenge_id: _Id
    answer: _Answer


class PinChangeBody(_Body):
    """The new 4-digit PIN."""

    new_pin: Pin


class PinResetBody(_Body):
    """A forgotten PIN's reset (support): the identity verification and the new 4-digit PIN."""

    verification_id: _Id
    new_pin: Pin


#: The phone's operating system: it decides the IB Key recovery steps (docs/rules.md).
PhoneOs = Literal["android", "ios"]


class CredentialsBody(_Body):
    """A username and password (the IB Key app on a new phone)."""

    username: _Name
    password: _Password


class RecoveryBody(_Body):
    """Username, password and the registration to recover or whose PIN to change."""

    username: _Name
    password: _Password
    registration: _Id


class MigrationBody(CredentialsBody):
    """A username and password, and the new phone's OS (``android`` or ``ios``)."""

    os: PhoneOs = "android"


class InstantActivationBody(CredentialsBody):
    """IB Key's instant activation: the credentials, the verified number to text, the phone's OS."""

    number: Phone | None = None
    os: PhoneOs = "android"


class IbKeyRecoveryBody(RecoveryBody):
    """The registration to recover and the phone's OS (the recorded one, else ``android``, when absent)."""

    os: PhoneOs | None = None


class MigrationAnswerBody(_Body):
    """The physical device's answer to the migration challenge."""

    challenge_id: _Id
    answer: _Answer | None = None


class TokenAnswerBody(_Body):
    """The code texted for an IB Key PIN change."""

    answer: _Answer


class IdentityBody(_Body):
    """Identification data (support): compared, as an HMAC, for device sharing."""

    date_of_birth: Annotated[
        str, Field(min_length=1, max_length=32, pattern=NOT_BLANK, examples=["1980-02-29"])
    ]
    citizenship: Annotated[str, Field(min_length=1, max_length=64, pattern=NOT_BLANK)]
    residence: Annotated[str, Field(min_length=1, max_length=64, pattern=NOT_BLANK)]
    id_type: Annotated[str, Field(min_length=1, max_length=32, pattern=NOT_BLANK, examples=["passport"])]
    id_number: Annotated[str, Field(min_length=1, max_length=64, pattern=NOT_BLANK)]


class IdentityCheckBody(_Body):
    """How support verified the caller and who did."""

    method: Annotated[
        str, Field(min_length=1, max_length=32, pattern=NOT_BLANK, examples=["phone-questions"])
    ]
    agent: Annotated[str, Field(min_length=1, max_length=64, pattern=NOT_BLANK)]


class ReportBody(_Body):
    """What happened to a device: lost, stolen, damaged, battery, returned, not-returned."""

    condition: Literal["lost", "stolen", "damaged", "not-returned", "battery", "returned"]
