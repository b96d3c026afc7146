"""IB Key from the app itself: instant activation, a move to a new phone, recovery, a PIN change.

The IB Key app has no session: each of these starts with the username and password, and its answer
names the device. The phone's signed requests (activation, push requests, decisions) are in
:mod:`.phone`.

===============================================================  ==========================================
endpoint                                                         what
===============================================================  ==========================================
``POST /v1/ib-key/instant-activations``                          IB Key from its app (SMS check)
``POST /v1/ib-key/migrations[/{id}/answer]``                     IB Key to a new phone
``POST /v1/ib-key/recoveries[/{id}/answer]``                     IB Key again on the same phone
``POST /v1/ib-key/pin-changes[/{id}/answer]``                    IB Key PIN change (password + SMS)
===============================================================  ==========================================
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tokensim.server.http.deps import ServiceDep, ServiceRoute
from tokensim.server.http.deps import json_response as _json
from tokensim.server.http.problems import ANSWER_CODES, CHALLENGE_CODES, problem_responses
from tokensim.server.http.schemas import (
    ActivationBody,
    IbKeyRecoveryBody,
    InstantActivationBody,
    MigrationAnswerBody,
    MigrationBody,
    RecoveryBody,
    TokenAnswerBody,
)

__all__ = ["router"]


def _add_routes(router: APIRouter) -> None:
    """Declare the endpoints on ``router`` (nested, so the module's one public name is the router)."""

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


#: The router of this module's endpoints (the app includes it: :data:`tokensim.server.http.routes.ROUTERS`).
router = APIRouter(route_class=ServiceRoute)
_add_routes(router)
