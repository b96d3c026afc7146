"""The support endpoints: users, their identity and passcodes, devices, the audit log, the outbox.

Every one needs the support token (``Authorization: Bearer``).

===============================================================  ==========================================
endpoint                                                         what
===============================================================  ==========================================
``POST /v1/support/users``, ``GET .../users/{username}``         create and read users
``POST /v1/support/users/{username}/devices``                    enroll a device
``POST /v1/support/users/{username}/temporary-passcode``         issue a temporary passcode
``POST /v1/support/users/{username}/unlock``                     clear an account lock
``POST /v1/support/devices/{id}/activation[/answer]``            activate a device by a challenge
``POST /v1/support/devices/{id}/activation-token``               text a new IB Key activation token
``POST /v1/support/devices/{id}/unlock`` and ``/revoke``         support actions on a device
``GET /v1/support/audit``                                        the audit log
``GET /v1/outbox``                                               texts and calls of the outbox carrier
``PUT /v1/support/users/{username}/identity``                    identification data (kept as an HMAC)
``POST /v1/support/users/{username}/identity-checks``            record an identity verification
``POST /v1/support/users/{username}/funded``                     the account received funds
``POST /v1/support/users/{username}/close``                      close the account (statements only)
``POST /v1/support/devices/{id}/pin-reset``                      a forgotten PIN, after an identity check
``POST /v1/support/devices/{id}/report``                         lost, damaged, battery, returned, ...
===============================================================  ==========================================

``POST /v1/support/reset`` is with the server's own endpoints (:mod:`.meta`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from tokensim.protocol.errors import InvalidParameter
from tokensim.server.carrier import ReadableCarrier
from tokensim.server.errors import NotFound
from tokensim.server.http.deps import ServiceRoute, SupportDep
from tokensim.server.http.deps import json_response as _json
from tokensim.server.http.problems import ANSWER_CODES, CHALLENGE_CODES, problem_responses
from tokensim.server.http.schemas import (
    ActivationAnswerBody,
    CreateUserBody,
    EnrollBody,
    EnrollPhoneDevice,
    EnrollPinDevice,
    IdentityBody,
    IdentityCheckBody,
    PinResetBody,
    ReportBody,
    StartActivationBody,
    TemporaryPasscodeBody,
)

__all__ = ["router"]

# Sequence numbers are 64-bit signed integers in both databases; a larger "after" cannot be bound.
_MAX_SEQ = 2**63 - 1


def _only_query(*names: str) -> Any:
    """A dependency refusing query parameters other than ``names``, or one given twice.

    A typo never passes silently, and ``?limit=5&limit=500`` is not read as one of them.
    """

    async def check(request: Request) -> None:
        keys = [key for key, _value in request.query_params.multi_items()]
        unknown = sorted(set(keys) - set(names))
        if unknown:
            raise InvalidParameter(f"unknown query parameter {unknown[0]!r}; known: {', '.join(names)}")
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise InvalidParameter(f"query parameter {repeated[0]!r} is given more than once")

    return Depends(check)


def _add_routes(router: APIRouter) -> None:
    """Declare the endpoints on ``router`` (nested, so the module's one public name is the router)."""

    @router.post(
        "/v1/support/users",
        status_code=201,
        tags=["support"],
        responses=problem_responses("unauthorized", "already-exists", body=True),
    )
    def create_user(body: CreateUserBody, service: SupportDep) -> JSONResponse:
        """Create a user with verified phone numbers."""
        user = service.users.create_user(
            body.username,
            body.password,
            phones=body.phones,
            jurisdiction=body.jurisdiction,
            primary_user=body.primary_user,
            equity=body.equity,
            entity=body.entity,
            start_with_sms=body.start_with_sms,
        )
        return _json(user.to_json(), 201)

    @router.get(
        "/v1/support/users/{username}",
        tags=["support"],
        responses=problem_responses("unauthorized", "not-found", params=True),
    )
    def get_user(username: str, service: SupportDep) -> JSONResponse:
        """A user with their phones and devices."""
        return _json(service.users.get_user(username).to_json())

    @router.post(
        "/v1/support/users/{username}/devices",
        status_code=201,
        tags=["support"],
        responses=problem_responses(
            "unauthorized",
            "not-found",
            "not-eligible",
            "unverified-number",
            "already-exists",
            "delivery-failed",
            body=True,
            params=True,
        ),
    )
    def enroll(username: str, body: EnrollBody, service: SupportDep) -> JSONResponse:
        """Enroll a device: returns its provisioning (and card), or texts an IB Key activation token."""
        enrollment = service.enrollment.enroll(
            username,
            body.kind,
            pin=body.pin if isinstance(body, EnrollPinDevice) else None,
            number=body.number if isinstance(body, EnrollPhoneDevice) else None,
            label=body.label,
            firmware=body.firmware,
            replaces=body.replaces,
        )
        return _json(enrollment.to_json(), 201)

    @router.post(
        "/v1/support/users/{username}/temporary-passcode",
        status_code=201,
        tags=["support"],
        responses=problem_responses(
            "unauthorized",
            "not-found",
            "identity-check-required",
            "consecutive-temporary-passcode",
            body=True,
            params=True,
        ),
    )
    def temporary_passcode(username: str, body: TemporaryPasscodeBody, service: SupportDep) -> JSONResponse:
        """Issue a temporary passcode after an identity check; it is in this response only."""
        enrollment = service.support.issue_temporary_passcode(
            username, verification_id=body.verification_id, length=body.length
        )
        return _json(enrollment.to_json(), 201)

    @router.post(
        "/v1/support/users/{username}/unlock",
        tags=["support"],
        responses=problem_responses("unauthorized", "not-found", params=True),
    )
    def unlock_user(username: str, service: SupportDep) -> JSONResponse:
        """Clear an account lock and its password pause."""
        return _json(service.users.unlock_account(username).to_json())

    @router.post(
        "/v1/support/devices/{device_id}/activation",
        status_code=201,
        tags=["support"],
        responses=problem_responses("unauthorized", *CHALLENGE_CODES, body=True, params=True),
    )
    def start_activation(
        device_id: str, service: SupportDep, body: StartActivationBody | None = None
    ) -> JSONResponse:
        """Issue the challenge a pending device answers to become active."""
        mode = None if body is None else body.mode
        return _json(service.enrollment.start_activation(device_id, mode=mode).to_json(), 201)

    @router.post(
        "/v1/support/devices/{device_id}/activation/answer",
        tags=["support"],
        responses=problem_responses("unauthorized", *ANSWER_CODES, body=True, params=True),
    )
    def finish_activation(device_id: str, body: ActivationAnswerBody, service: SupportDep) -> JSONResponse:
        """Answer the activation challenge; the device becomes active."""
        return _json(
            service.enrollment.finish_activation(device_id, body.challenge_id, body.answer).to_json()
        )

    @router.post(
        "/v1/support/devices/{device_id}/activation-token",
        tags=["support"],
        responses=problem_responses("unauthorized", *CHALLENGE_CODES, params=True),
    )
    def activation_token(device_id: str, service: SupportDep) -> JSONResponse:
        """Text a new IB Key activation token."""
        return _json(service.enrollment.resend_activation_token(device_id).to_json())

    @router.post(
        "/v1/support/devices/{device_id}/unlock",
        tags=["support"],
        responses=problem_responses("unauthorized", "not-found", "device-unavailable", params=True),
    )
    def unlock_device(device_id: str, service: SupportDep) -> JSONResponse:
        """Clear a device's lockout."""
        return _json(service.support.unlock_device(device_id).to_json())

    @router.post(
        "/v1/support/devices/{device_id}/revoke",
        tags=["support"],
        responses=problem_responses("unauthorized", "not-found", "device-unavailable", params=True),
    )
    def revoke_device(device_id: str, service: SupportDep) -> JSONResponse:
        """Revoke a device for good."""
        return _json(service.support.revoke(device_id).to_json())

    @router.get(
        "/v1/support/audit",
        tags=["support"],
        dependencies=[_only_query("username", "event", "after", "limit")],
        responses=problem_responses("unauthorized", params=True),
    )
    def audit(
        service: SupportDep,
        username: Annotated[str | None, Query(max_length=64)] = None,
        event: Annotated[str | None, Query(max_length=48)] = None,
        after: Annotated[int, Query(ge=0, le=_MAX_SEQ)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> JSONResponse:
        """Audit events after sequence number ``after``, oldest first."""
        records = service.users.audit(username=username, event=event, after=after, limit=limit)
        return _json({"events": [r.to_json() for r in records]})

    @router.get(
        "/v1/outbox",
        tags=["support"],
        dependencies=[_only_query("to", "after", "limit")],
        responses=problem_responses("unauthorized", "not-found", params=True),
    )
    def outbox(
        service: SupportDep,
        to: Annotated[str | None, Query(max_length=32)] = None,
        after: Annotated[int, Query(ge=0, le=_MAX_SEQ)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> JSONResponse:
        """Texts and calls the outbox carrier delivered after sequence number ``after``."""
        carrier = service.core.carrier
        if not isinstance(carrier, ReadableCarrier):
            raise NotFound("the configured carrier has no outbox")
        return _json({"messages": [m.to_json() for m in carrier.messages(to=to, after=after, limit=limit)]})

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


#: The router of this module's endpoints (the app includes it: :data:`tokensim.server.http.routes.ROUTERS`).
router = APIRouter(route_class=ServiceRoute)
_add_routes(router)
