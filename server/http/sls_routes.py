"""The HTTP endpoints of the Secure Login System rules, as a router :func:`.api.create_app` includes.

Session endpoints take ``Authorization: Bearer <session token>``; support endpoints the support
token. Statuses come from the problem codes (:mod:`.problems`), as everywhere in the API.

===============================================================  ==========================================
endpoint                                                         what
===============================================================  ==========================================
``POST /v1/step-up``                                             a fresh challenge for a withdrawal or change
``POST /v1/withdrawals``, ``GET /v1/withdrawals/limits``         withdraw (answer included); what remains
``POST /v1/deposits``                                            ACH/EFT beyond the threshold need SLS
``PUT /v1/account/email``, ``PUT /v1/account/bank-instructions``  changes authorised by an SLS device
``GET /v1/account/security``                                     opt-out, IP restrictions, penny stocks
``POST /v1/account/sls/opt-out``, ``.../opt-in``                 primary user only
``PUT /v1/account/ip-restrictions``, ``.../penny-stocks``        primary user only
``POST /v1/sharing``, ``POST /v1/sharing/answer``                use another username's device
``POST /v1/online-card``, ``POST /v1/devices``                   print an online card; request a device
``POST /v1/devices/{id}/activation[/answer]``                    activate or reactivate by answering
``POST /v1/devices/{id}/pin-change[/current|/answer]``           DSC+ PIN change: current PIN, then new
``POST /v1/ib-key/instant-activations``                           IB Key from its app (SMS check)
``POST /v1/ib-key/migrations[/{id}/answer]``                     IB Key to a new phone
``POST /v1/ib-key/recoveries[/{id}/answer]``                     IB Key again on the same phone
``POST /v1/ib-key/pin-changes[/{id}/answer]``                    IB Key PIN change (password + SMS)
``PUT /v1/support/users/{username}/identity``                    identification data (kept as an HMAC)
``POST /v1/support/users/{username}/identity-checks``            record an identity verification
``POST /v1/support/users/{username}/funded``                     the account received funds
``POST /v1/support/users/{username}/close``                      close the account (statements only)
``POST /v1/support/devices/{id}/report``                         lost, damaged, battery, returned, ...
``POST /v1/support/devices/{id}/pin-reset``                      a forgotten PIN, after an identity check
===============================================================  ==========================================
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from tokensim.server.http.deps import ServiceDep, ServiceRoute, SupportDep, TokenDep
from tokensim.server.http.problems import ANSWER_CODES, CHALLENGE_CODES, SESSION_CODES, problem_responses
from tokensim.server.http.schemas import NOT_BLANK, SPACES, Amount, Mode, Phone, Pin

__all__ = [
    "ActivationBody",
    "AmountBody",
    "BankBody",
    "CredentialsBody",
    "DepositBody",
    "DeviceRequestBody",
    "DscPlusRequest",
    "EmailBody",
    "IbKeyRecoveryBody",
    "IdentityBody",
    "IdentityCheckBody",
    "InstantActivationBody",
    "IpRestrictionsBody",
    "MigrationAnswerBody",
    "MigrationBody",
    "ModeBody",
    "PennyStocksBody",
    "PhoneOs",
    "PinChangeBody",
    "PinResetBody",
    "RecoveryBody",
    "ReportBody",
    "ShareAnswerBody",
    "ShareBody",
    "StepUpBody",
    "TokenAnswerBody",
    "router",
]

_Id = Annotated[str, Field(min_length=1, max_length=80)]
_Answer = Annotated[str, Field(min_length=1, max_length=256)]
#: A positive USD amount, a plain decimal string (:data:`~tokensim.server.http.schemas.AMOUNT_PATTERN`).
_Amount = Amount
_Name = Annotated[str, Field(min_length=1, max_length=64)]
_Password = Annotated[str, Field(min_length=1, max_length=256)]
_Mode = Mode


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class StepUpBody(_Body):
    """The device to answer and what for (``withdrawal``, ``bank`` or ``email``)."""

    device_id: _Id
    action: Literal["withdrawal", "bank", "email"]
    mode: _Mode | None = None


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

    amount_usd: _Amount
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

    amount_usd: _Amount
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
    mode: _Mode | None = None


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

    mode: _Mode | None = None


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


def _json(data: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status)


def _add_routes(router: APIRouter) -> None:
    """Declare every endpoint on ``router`` (nested, so the module's public names stay the router)."""

    # -- money and account changes -------------------------------------------------------------------

    @router.post(
        "/v1/step-up",
        status_code=201,
        tags=["account"],
        responses=problem_responses(
            *SESSION_CODES, *CHALLENGE_CODES, "sls-device-required", "temporary-access", body=True
        ),
    )
    def step_up(body: StepUpBody, token: TokenDep, service: ServiceDep) -> JSONResponse:
        """A fresh challenge on a chosen device for a withdrawal, a bank or an email change."""
        view = service.callers.step_up(token, body.device_id, body.action, mode=body.mode)
        return _json(view.to_json(), 201)

    @router.post(
        "/v1/withdrawals",
        status_code=201,
        tags=["account"],
        responses=problem_responses(
            *SESSION_CODES,
            *ANSWER_CODES,
            "limit-exceeded",
            "sls-device-required",
            "temporary-access",
            body=True,
        ),
    )
    def withdraw(body: AmountBody, token: TokenDep, service: ServiceDep) -> JSONResponse:
        """Withdraw; the answering device's limits apply and the receipt shows what remains."""
        receipt = service.money.withdraw(
            token, body.amount_usd, challenge_id=body.challenge_id, answer=body.answer
        )
        return _json(receipt.to_json(), 201)

    @router.get("/v1/withdrawals/limits", tags=["account"], responses=problem_responses(*SESSION_CODES))
    def withdrawal_limits(token: TokenDep, service: ServiceDep) -> JSONResponse:
        """What remains today and in the window, for each device kind the user may answer with."""
        return _json({"limits": [r.to_json() for r in service.money.limits(token)]})

    @router.post(
        "/v1/deposits",
        status_code=201,
        tags=["account"],
        responses=problem_responses(*SESSION_CODES, "sls-device-required", "temporary-access", body=True),
    )
    def deposit(body: DepositBody, token: TokenDep, service: ServiceDep) -> JSONResponse:
        """Record a deposit (ACH/EFT beyond the threshold need an SLS device)."""
        return _json(service.money.deposit(token, body.amount_usd, body.method).to_json(), 201)

    @router.put(
        "/v1/account/email",
        tags=["account"],
        responses=problem_responses(
            *SESSION_CODES, *ANSWER_CODES, "sls-device-required", "temporary-access", body=True
        ),
    )
    def change_email(body: EmailBody, token: TokenDep, service: ServiceDep) -> JSONResponse:
        """Change the email address with an SLS device's answer."""
        return _json(
            service.security.change_email(token, body.email, body.challenge_id, body.answer).to_json()
        )

    @router.put(
        "/v1/account/bank-instructions",
        tags=["account"],
        responses=problem_responses(
            *SESSION_CODES, *ANSWER_CODES, "sls-device-required", "temporary-access", body=True
        ),
    )
    def change_bank(body: BankBody, token: TokenDep, service: ServiceDep) -> JSONResponse:
        """Replace the bank instructions with an SLS device's answer."""
        settings = service.security.change_bank_instructions(
            token, body.instructions, body.challenge_id, body.answer
        )
        return _json(settings.to_json())

    @router.get("/v1/account/security", tags=["account"], responses=problem_responses(*SESSION_CODES))
    def security(token: TokenDep, service: ServiceDep) -> JSONResponse:
        """The user's Secure Login System settings."""
        return _json(service.security.settings(token).to_json())

    @router.post(
        "/v1/account/sls/opt-out",
        tags=["account"],
        responses=problem_responses(
            *SESSION_CODES,
            "not-primary-user",
            "opt-out-not-allowed",
            "ip-restrictions-required",
            "temporary-access",
        ),
    )
    def opt_out(token: TokenDep, service: ServiceDep) -> JSONResponse:
        """Opt out: trading platforms without a second factor (primary user; not HK or IN)."""
        return _json(service.security.opt_out(token).to_json())

    @router.post(
        "/v1/account/sls/opt-in",
        tags=["account"],
        responses=problem_responses(*SESSION_CODES, "not-primary-user", "temporary-access"),
    )
    def opt_in(token: TokenDep, service: ServiceDep) -> JSONResponse:
        """Opt back in (primary user)."""
        return _json(service.security.opt_in(token).to_json())

    @router.put(
        "/v1/account/ip-restrictions",
        tags=["account"],
        responses=problem_responses(
            *SESSION_CODES, "not-primary-user", "ip-restrictions-required", "temporary-access", body=True
        ),
    )
    def ip_restrictions(body: IpRestrictionsBody, token: TokenDep, service: ServiceDep) -> JSONResponse:
        """Where trading logins may come from (primary user)."""
        return _json(service.security.set_ip_restrictions(token, body.addresses).to_json())

    @router.put(
        "/v1/account/penny-stocks",
        tags=["account"],
        responses=problem_responses(
            *SESSION_CODES, "not-primary-user", "ip-restrictions-required", "temporary-access", body=True
        ),
    )
    def penny_stocks(body: PennyStocksBody, token: TokenDep, service: ServiceDep) -> JSONResponse:
        """Penny-stock permission (primary user; opted out needs IP restrictions)."""
        return _json(service.security.set_penny_stocks(token, body.enabled).to_json())

    # -- sharing and the user's devices --------------------------------------------------------------

    @router.post(
        "/v1/sharing",
        status_code=201,
        tags=["devices"],
        responses=problem_responses(
            *SESSION_CODES,
            *CHALLENGE_CODES,
            "invalid-credentials",
            "sharing-refused",
            "temporary-access",
            body=True,
        ),
    )
    def share(body: ShareBody, token: TokenDep, service: ServiceDep) -> JSONResponse:
        """Ask to share another username's device: its owner's password, then its challenge."""
        view = service.sharing.start_share(token, body.owner, body.password, body.device_id, mode=body.mode)
        return _json(view.to_json(), 201)

    @router.post(
        "/v1/sharing/answer",
        tags=["devices"],
        responses=problem_responses(
            *SESSION_CODES, *ANSWER_CODES, "sharing-refused", "already-exists", body=True
        ),
    )
    def share_answer(body: ShareAnswerBody, token: TokenDep, service: ServiceDep) -> JSONResponse:
        """The owner's device answers; the device is shared."""
        return _json(service.sharing.finish_share(token, body.challenge_id, body.answer).to_json())

    @router.post(
        "/v1/online-card",
        status_code=201,
        tags=["devices"],
        responses=problem_responses(*SESSION_CODES, "not-eligible", "device-unavailable"),
    )
    def online_card(token: TokenDep, service: ServiceDep) -> JSONResponse:
        """A new Online Security Code Card to print and activate (card-printing or portal session)."""
        return _json(service.own_devices.request_online_card(token).to_json(), 201)

    @router.post(
        "/v1/devices",
        status_code=201,
        tags=["devices"],
        responses=problem_responses(
            *SESSION_CODES, "not-eligible", "already-exists", "temporary-access", body=True
        ),
    )
    def request_device(body: DeviceRequestBody, token: TokenDep, service: ServiceDep) -> JSONResponse:
        """Request a DSC+ (balance threshold); its reserve is held. Legacy kinds are refused."""
        return _json(service.own_devices.request_device(token, body.kind, pin=body.pin).to_json(), 201)

    @router.post(
        "/v1/devices/{device_id}/activation",
        status_code=201,
        tags=["devices"],
        responses=problem_responses(*SESSION_CODES, *CHALLENGE_CODES, body=True, params=True),
    )
    def activation(
        device_id: str, token: TokenDep, service: ServiceDep, body: ModeBody | None = None
    ) -> JSONResponse:
        """The challenge one of the user's devices answers to become active again."""
        mode = None if body is None else body.mode
        return _json(service.own_devices.start_activation(token, device_id, mode=mode).to_json(), 201)

    @router.post(
        "/v1/devices/{device_id}/activation/answer",
        tags=["devices"],
        responses=problem_responses(*SESSION_CODES, *ANSWER_CODES, body=True, params=True),
    )
    def activation_answer(
        device_id: str, body: ActivationBody, token: TokenDep, service: ServiceDep
    ) -> JSONResponse:
        """Answer it; a reactivated permanent device ends temporary access."""
        view = service.own_devices.finish_activation(token, device_id, body.challenge_id, body.answer)
        return _json(view.to_json())

    @router.post(
        "/v1/devices/{device_id}/pin-change",
        status_code=201,
        tags=["devices"],
        responses=problem_responses(*SESSION_CODES, *CHALLENGE_CODES, body=True, params=True),
    )
    def pin_change(device_id: str, body: PinChangeBody, token: TokenDep, service: ServiceDep) -> JSONResponse:
        """A challenge to answer with the device and its current PIN (the new PIN comes next)."""
        return _json(service.own_devices.start_pin_change(token, device_id, body.new_pin).to_json(), 201)

    @router.post(
        "/v1/devices/{device_id}/pin-change/current",
        status_code=201,
        tags=["devices"],
        responses=problem_responses(*SESSION_CODES, *ANSWER_CODES, body=True, params=True),
    )
    def pin_change_current(
        device_id: str, body: ActivationBody, token: TokenDep, service: ServiceDep
    ) -> JSONResponse:
        """The answer computed with the current PIN; returns the challenge to answer with the new PIN."""
        view = service.own_devices.confirm_current_pin(token, device_id, body.challenge_id, body.answer)
        return _json(view.to_json(), 201)

    @router.post(
        "/v1/devices/{device_id}/pin-change/answer",
        tags=["devices"],
        responses=problem_responses(*SESSION_CODES, *ANSWER_CODES, body=True, params=True),
    )
    def pin_change_answer(
        device_id: str, body: ActivationBody, token: TokenDep, service: ServiceDep
    ) -> JSONResponse:
        """The answer computed with the new PIN; the new PIN is kept."""
        view = service.own_devices.finish_pin_change(token, device_id, body.challenge_id, body.answer)
        return _json(view.to_json())

    # -- IB Key app ----------------------------------------------------------------------------------

    @router.post(
        "/v1/ib-key/instant-activations",
        status_code=201,
        tags=["ib-key"],
        responses=problem_responses(
            *CHALLENGE_CODES, "invalid-credentials", "account-locked", "account-closed", body=True
        ),
    )
    def instant_activation(body: InstantActivationBody, service: ServiceDep) -> JSONResponse:
        """Activate IB Key from the app: the password, then a token by SMS to a verified number."""
        enrollment = service.ib_key_activation.instant_ib_key_activation(
            body.username, body.password, number=body.number, os=body.os
        )
        return _json(enrollment.to_json(), 201)

    @router.post(
        "/v1/ib-key/migrations",
        status_code=201,
        tags=["ib-key"],
        responses=problem_responses(
            *CHALLENGE_CODES, "invalid-credentials", "account-locked", "account-closed", body=True
        ),
    )
    def migration(body: MigrationBody, service: ServiceDep) -> JSONResponse:
        """Move IB Key to a new phone (token by SMS, or a physical device answers)."""
        started = service.ib_key_registrations.start_ib_key_migration(
            body.username, body.password, os=body.os
        )
        return _json(started.to_json(), 201)

    @router.post(
        "/v1/ib-key/migrations/{device_id}/answer",
        tags=["ib-key"],
        responses=problem_responses(*ANSWER_CODES, "login-expired", body=True, params=True),
    )
    def migration_answer(device_id: str, body: MigrationAnswerBody, service: ServiceDep) -> JSONResponse:
        """The physical device's answer; returns the new registration's activation token."""
        token = service.ib_key_registrations.answer_ib_key_migration(
            device_id, body.challenge_id, body.answer
        )
        return _json({"device_id": device_id, "activation_token": token})

    @router.post(
        "/v1/ib-key/recoveries",
        status_code=201,
        tags=["ib-key"],
        responses=problem_responses(
            *CHALLENGE_CODES, "invalid-credentials", "account-locked", "account-closed", body=True
        ),
    )
    def recovery(body: IbKeyRecoveryBody, service: ServiceDep) -> JSONResponse:
        """Recover IB Key on the same phone: iOS answers itself; else a physical device, else SMS."""
        started = service.ib_key_registrations.start_ib_key_recovery(
            body.username, body.password, body.registration, os=body.os
        )
        return _json(started.to_json(), 201)

    @router.post(
        "/v1/ib-key/recoveries/{device_id}/answer",
        tags=["ib-key"],
        responses=problem_responses(*ANSWER_CODES, "login-expired", body=True, params=True),
    )
    def recovery_answer(device_id: str, body: ActivationBody, service: ServiceDep) -> JSONResponse:
        """The answer of the iOS app (recovered) or of the physical device (returns the recovery token)."""
        token = service.ib_key_registrations.answer_ib_key_recovery(device_id, body.challenge_id, body.answer)
        return _json({"device_id": device_id, "recovered": token is None, "activation_token": token})

    @router.post(
        "/v1/ib-key/pin-changes",
        status_code=201,
        tags=["ib-key"],
        responses=problem_responses(
            *CHALLENGE_CODES, "invalid-credentials", "account-locked", "account-closed", body=True
        ),
    )
    def ib_key_pin_change(body: RecoveryBody, service: ServiceDep) -> JSONResponse:
        """Allow an IB Key PIN change: a code by SMS to the registration's number."""
        enrollment = service.ib_key_registrations.start_ib_key_pin_change(
            body.username, body.password, body.registration
        )
        return _json(enrollment.to_json(), 201)

    @router.post(
        "/v1/ib-key/pin-changes/{device_id}/answer",
        tags=["ib-key"],
        responses=problem_responses(*ANSWER_CODES, body=True, params=True),
    )
    def ib_key_pin_change_answer(device_id: str, body: TokenAnswerBody, service: ServiceDep) -> JSONResponse:
        """The texted code; the app may change its PIN."""
        return _json(service.ib_key_registrations.finish_ib_key_pin_change(device_id, body.answer).to_json())

    # -- support -------------------------------------------------------------------------------------

    @router.put(
        "/v1/support/users/{username}/identity",
        tags=["support"],
        responses=problem_responses("unauthorized", "not-found", body=True, params=True),
    )
    def identity(username: str, body: IdentityBody, service: SupportDep) -> JSONResponse:
        """Keep the user's identification data (as an HMAC)."""
        return _json(service.support.record_identity(username, body.model_dump()).to_json())

    @router.post(
        "/v1/support/users/{username}/identity-checks",
        status_code=201,
        tags=["support"],
        responses=problem_responses("unauthorized", "not-found", body=True, params=True),
    )
    def identity_check(username: str, body: IdentityCheckBody, service: SupportDep) -> JSONResponse:
        """Record an identity verification (it allows one temporary passcode)."""
        view = service.support.verify_identity(username, method=body.method, agent=body.agent)
        return _json(view.to_json(), 201)

    @router.post(
        "/v1/support/users/{username}/funded",
        tags=["support"],
        responses=problem_responses("unauthorized", "not-found", params=True),
    )
    def funded(username: str, service: SupportDep) -> JSONResponse:
        """Record that the account received funds: a new account's online card lasts 21 days from now."""
        return _json(service.users.mark_funded(username).to_json())

    @router.post(
        "/v1/support/users/{username}/close",
        tags=["support"],
        responses=problem_responses("unauthorized", "not-found", params=True),
    )
    def close(username: str, service: SupportDep) -> JSONResponse:
        """Close the account: statements with the password alone."""
        return _json(service.users.close_account(username).to_json())

    @router.post(
        "/v1/support/devices/{device_id}/pin-reset",
        tags=["support"],
        responses=problem_responses(
            "unauthorized", "not-found", "wrong-answer", "device-unavailable", body=True, params=True
        ),
    )
    def pin_reset(device_id: str, body: PinResetBody, service: SupportDep) -> JSONResponse:
        """Reset a forgotten DSC+, Gold or Platinum PIN after an identity check."""
        view = service.support.reset_pin(
            device_id, verification_id=body.verification_id, new_pin=body.new_pin
        )
        return _json(view.to_json())

    @router.post(
        "/v1/support/devices/{device_id}/report",
        tags=["support"],
        responses=problem_responses(
            "unauthorized", "not-found", "device-unavailable", body=True, params=True
        ),
    )
    def report(device_id: str, body: ReportBody, service: SupportDep) -> JSONResponse:
        """Record a lost, stolen, damaged, returned or unreturned device, or a battery failure."""
        return _json(service.support.report(device_id, body.condition).to_json())


#: The router of every endpoint above.
router = APIRouter(route_class=ServiceRoute)
_add_routes(router)
