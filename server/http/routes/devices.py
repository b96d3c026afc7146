"""The logged-in user's own devices: an online card, a new DSC+, (re)activation, a DSC+ PIN change.

They take a session token (``Authorization: Bearer``).

===============================================================  ==========================================
endpoint                                                         what
===============================================================  ==========================================
``POST /v1/online-card``, ``POST /v1/devices``                   print an online card; request a device
``POST /v1/devices/{id}/activation[/answer]``                    activate or reactivate by answering
``POST /v1/devices/{id}/pin-change[/current|/answer]``           DSC+ PIN change: current PIN, then new
===============================================================  ==========================================
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tokensim.server.http.deps import ServiceDep, ServiceRoute, TokenDep
from tokensim.server.http.deps import json_response as _json
from tokensim.server.http.problems import ANSWER_CODES, CHALLENGE_CODES, SESSION_CODES, problem_responses
from tokensim.server.http.schemas import ActivationBody, DeviceRequestBody, ModeBody, PinChangeBody

__all__ = ["router"]


def _add_routes(router: APIRouter) -> None:
    """Declare the endpoints on ``router`` (nested, so the module's one public name is the router)."""

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


#: The router of this module's endpoints (the app includes it: :data:`tokensim.server.http.routes.ROUTERS`).
router = APIRouter(route_class=ServiceRoute)
_add_routes(router)
