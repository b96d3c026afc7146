"""The login endpoints: the password, the challenge of the chosen device, its answer; the session.

=====================================================  ======================================
endpoint                                               what
=====================================================  ======================================
``POST /v1/login``                                     password; returns the devices (M2FS)
``POST /v1/login/{login_id}/challenge``                challenge for the chosen device
``POST /v1/login/{login_id}/answer``                   answer; returns the session and scope
``GET /v1/session``, ``DELETE /v1/session``            what a session may do; log out
=====================================================  ======================================

``/v1/session`` needs a session token (``Authorization: Bearer``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from tokensim.server.http.deps import ServiceDep, ServiceRoute, TokenDep
from tokensim.server.http.deps import json_response as _json
from tokensim.server.http.problems import ANSWER_CODES, CHALLENGE_CODES, problem_responses
from tokensim.server.http.schemas import AnswerBody, ChallengeBody, LoginBody

__all__ = ["router"]


def _origin(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _add_routes(router: APIRouter) -> None:
    """Declare the endpoints on ``router`` (nested, so the module's one public name is the router)."""

    @router.post(
        "/v1/login",
        status_code=201,
        tags=["login"],
        responses=problem_responses(
            "invalid-credentials", "too-many-attempts", "account-locked", "ip-restricted", body=True
        ),
    )
    def login(body: LoginBody, request: Request, service: ServiceDep) -> JSONResponse:
        """Check the password; returns the login id and the devices to choose from."""
        started = service.logins.start(
            body.username, body.password, platform=body.platform, origin=_origin(request)
        )
        return _json(started.to_json(), 201)

    @router.post(
        "/v1/login/{login_id}/challenge",
        status_code=201,
        tags=["login"],
        responses=problem_responses(*CHALLENGE_CODES, "login-expired", body=True, params=True),
    )
    def login_challenge(login_id: str, body: ChallengeBody, service: ServiceDep) -> JSONResponse:
        """Issue a challenge for the chosen device (SMS and voice codes are sent now)."""
        view = service.logins.challenge(login_id, body.device_id, mode=body.mode)
        return _json(view.to_json(), 201)

    @router.post(
        "/v1/login/{login_id}/answer",
        status_code=201,
        tags=["login"],
        responses=problem_responses(*ANSWER_CODES, "login-expired", "ip-restricted", body=True, params=True),
    )
    def login_answer(login_id: str, body: AnswerBody, service: ServiceDep) -> JSONResponse:
        """Answer the challenge; a right answer returns the session token and its scope."""
        grant = service.logins.answer(login_id, body.challenge_id, body.answer)
        return _json(grant.to_json(), 201)

    @router.get("/v1/session", tags=["login"], responses=problem_responses("unauthorized"))
    def session_info(token: TokenDep, service: ServiceDep) -> JSONResponse:
        """What the bearer session may do."""
        return _json(service.logins.session_info(token).to_json())

    @router.delete(
        "/v1/session",
        status_code=204,
        tags=["login"],
        responses=problem_responses("unauthorized", params=True),
    )
    def logout(
        token: TokenDep, service: ServiceDep, everywhere: Annotated[bool, Query(alias="all")] = False
    ) -> Response:
        """End the bearer session; with ``all=true``, every session of its user (log out everywhere)."""
        service.logins.logout(token, everywhere=everywhere)
        return Response(status_code=204)


#: The router of this module's endpoints (the app includes it: :data:`tokensim.server.http.routes.ROUTERS`).
router = APIRouter(route_class=ServiceRoute)
_add_routes(router)
