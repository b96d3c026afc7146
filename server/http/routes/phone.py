"""The endpoints the IB Key app calls on the phone: its activation, then the push requests it decides.

The requests and decisions are signed by the registration's key: :mod:`tokensim.server.http.phone_docs`
says how, and the OpenAPI document (tag ``ib-key``) says the same.

=============================================  ======================================
endpoint                                       what
=============================================  ======================================
``POST /v1/ib-key/activations``                IB Key app activation (SMS token)
``GET /v1/ib-key/{registration}/requests``     pending push requests for a phone
``POST /v1/ib-key/decisions``                  a phone's signed approve/deny
=============================================  ======================================
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tokensim.protocol.messages import PushDecision
from tokensim.protocol.phone_auth import DECISIONS_PATH, requests_path
from tokensim.protocol.provisioning import IbKeyActivation
from tokensim.server.http.deps import ServiceDep, ServiceRoute
from tokensim.server.http.deps import json_response as _json
from tokensim.server.http.phone_docs import (
    IB_KEY_ACTIVATION_DOC,
    IB_KEY_DECISIONS_DOC,
    IB_KEY_REQUESTS_DOC,
    IbKeyAuthDep,
)
from tokensim.server.http.problems import ANSWER_CODES, problem_responses
from tokensim.server.http.schemas import IbKeyActivationBody, PushDecisionBody

__all__ = ["router"]


def _add_routes(router: APIRouter) -> None:
    """Declare the endpoints on ``router`` (nested, so the module's one public name is the router)."""

    @router.post(
        "/v1/ib-key/activations",
        status_code=201,
        tags=["ib-key"],
        description=IB_KEY_ACTIVATION_DOC,
        responses=problem_responses("wrong-answer", "replayed-answer", "device-locked", body=True),
    )
    def ib_key_activation(body: IbKeyActivationBody, service: ServiceDep) -> JSONResponse:
        """Activate an IB Key registration with the texted token; returns its provisioning."""
        activation = IbKeyActivation(
            username=body.username, token=body.token, public_key=body.public_key, device_name=body.device_name
        )
        return _json(service.ib_key_activation.activate_ib_key(activation).to_json(), 201)

    @router.get(
        "/v1/ib-key/{registration}/requests",
        tags=["ib-key"],
        description=IB_KEY_REQUESTS_DOC,
        responses=problem_responses("unauthorized", "not-found", params=True),
    )
    def ib_key_requests(registration: str, service: ServiceDep, authorization: IbKeyAuthDep) -> JSONResponse:
        """Push requests waiting for the phone's decision (a request signed by the registration key)."""
        service.challenges.authenticate_phone(
            authorization, "GET", requests_path(registration), registration=registration
        )
        requests = service.challenges.pending_pushes(registration)
        return _json({"requests": [r.to_json() for r in requests]})

    @router.post(
        DECISIONS_PATH,
        tags=["ib-key"],
        description=IB_KEY_DECISIONS_DOC,
        responses=problem_responses("unauthorized", *ANSWER_CODES, body=True),
    )
    def ib_key_decision(
        body: PushDecisionBody, service: ServiceDep, authorization: IbKeyAuthDep
    ) -> JSONResponse:
        """A phone's signed approval or denial of a push or QR request (signed by the registration key)."""
        registration = service.challenges.authenticate_phone(authorization, "POST", DECISIONS_PATH)
        decision = PushDecision.from_json(body.model_dump())
        status = service.challenges.decide(decision, registration)
        return _json({"request_id": decision.request_id, "status": status})


#: The router of this module's endpoints (the app includes it: :data:`tokensim.server.http.routes.ROUTERS`).
router = APIRouter(route_class=ServiceRoute)
_add_routes(router)
