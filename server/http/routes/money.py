"""The money endpoints of the Secure Login System rules: step-up challenges, withdrawals, deposits.

They take a session token (``Authorization: Bearer``).

===============================================================  ==========================================
endpoint                                                         what
===============================================================  ==========================================
``POST /v1/step-up``                                             a fresh challenge for a withdrawal or change
``POST /v1/withdrawals``, ``GET /v1/withdrawals/limits``         withdraw (answer included); what remains
``POST /v1/deposits``                                            ACH/EFT beyond the threshold need SLS
===============================================================  ==========================================
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tokensim.server.http.deps import ServiceDep, ServiceRoute, TokenDep
from tokensim.server.http.deps import json_response as _json
from tokensim.server.http.problems import ANSWER_CODES, CHALLENGE_CODES, SESSION_CODES, problem_responses
from tokensim.server.http.schemas import AmountBody, DepositBody, StepUpBody

__all__ = ["router"]


def _add_routes(router: APIRouter) -> None:
    """Declare the endpoints on ``router`` (nested, so the module's one public name is the router)."""

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


#: The router of this module's endpoints (the app includes it: :data:`tokensim.server.http.routes.ROUTERS`).
router = APIRouter(route_class=ServiceRoute)
_add_routes(router)
