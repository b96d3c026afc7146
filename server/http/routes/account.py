"""The account settings of the Secure Login System rules: email, bank instructions, opt-out, limits.

They take a session token (``Authorization: Bearer``); a change of email or bank instructions comes
with the answer to a step-up challenge (:mod:`.money`).

===============================================================  ==========================================
endpoint                                                         what
===============================================================  ==========================================
``PUT /v1/account/email``, ``PUT /v1/account/bank-instructions``  changes authorised by an SLS device
``GET /v1/account/security``                                     opt-out, IP restrictions, penny stocks
``POST /v1/account/sls/opt-out``, ``.../opt-in``                 primary user only
``PUT /v1/account/ip-restrictions``, ``.../penny-stocks``        primary user only
===============================================================  ==========================================
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tokensim.server.http.deps import ServiceDep, ServiceRoute, TokenDep
from tokensim.server.http.deps import json_response as _json
from tokensim.server.http.problems import ANSWER_CODES, SESSION_CODES, problem_responses
from tokensim.server.http.schemas import BankBody, EmailBody, IpRestrictionsBody, PennyStocksBody

__all__ = ["router"]


def _add_routes(router: APIRouter) -> None:
    """Declare the endpoints on ``router`` (nested, so the module's one public name is the router)."""

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


#: The router of this module's endpoints (the app includes it: :data:`tokensim.server.http.routes.ROUTERS`).
router = APIRouter(route_class=ServiceRoute)
_add_routes(router)
