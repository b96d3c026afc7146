"""Device sharing: a logged-in user answers with a device of another username (its owner's password first).

They take a session token (``Authorization: Bearer``).

===============================================================  ==========================================
endpoint                                                         what
===============================================================  ==========================================
``POST /v1/sharing``, ``POST /v1/sharing/answer``                use another username's device
===============================================================  ==========================================
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tokensim.server.http.deps import ServiceDep, ServiceRoute, TokenDep
from tokensim.server.http.deps import json_response as _json
from tokensim.server.http.problems import ANSWER_CODES, CHALLENGE_CODES, SESSION_CODES, problem_responses
from tokensim.server.http.schemas import ShareAnswerBody, ShareBody

__all__ = ["router"]


def _add_routes(router: APIRouter) -> None:
    """Declare the endpoints on ``router`` (nested, so the module's one public name is the router)."""

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


#: The router of this module's endpoints (the app includes it: :data:`tokensim.server.http.routes.ROUTERS`).
router = APIRouter(route_class=ServiceRoute)
_add_routes(router)
