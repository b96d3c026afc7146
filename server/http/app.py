"""The HTTP API: a FastAPI app over :class:`~tokensim.server.service.Service`.

:func:`create_app` takes the configuration, and optionally the clock, the random source and the
carrier, so tests drive the same app with a fixed clock. The OpenAPI description is served at
``/openapi.json`` and browsable at ``/docs``.

============================================================  ======================================
endpoint                                                      what
============================================================  ======================================
``POST /v1/login``                                            password; returns the devices (M2FS)
``POST /v1/login/{login_id}/challenge``                       challenge for the chosen device
``POST /v1/login/{login_id}/answer``                          answer; returns the session and scope
``GET /v1/session``, ``DELETE /v1/session``                   what a session may do; log out
``POST /v1/ib-key/activations``                               IB Key app activation (SMS token)
``GET /v1/ib-key/{registration}/requests``                    pending push requests for a phone
``POST /v1/ib-key/decisions``                                 a phone's signed approve/deny
``POST /v1/support/users``, ``GET .../users/{username}``      create and read users
``POST /v1/support/users/{username}/devices``                 enroll a device
``POST /v1/support/users/{username}/temporary-passcode``      issue a temporary passcode
``POST /v1/support/users/{username}/unlock``                  clear an account lock
``POST /v1/support/devices/{id}/activation[/answer]``         activate a device by a challenge
``POST /v1/support/devices/{id}/activation-token``            text a new IB Key activation token
``POST /v1/support/devices/{id}/unlock`` and ``/revoke``      support actions on a device
``GET /v1/support/audit``                                     the audit log
``POST /v1/support/reset``                                    empty an ephemeral test server (404 elsewhere)
``GET /v1/outbox``                                            texts and calls of the outbox carrier
``GET /v1/health``, ``GET /v1/problems/{code}``               a database write (503 if it fails); codes
(Secure Login System rules)                                   see :mod:`tokensim.server.http.sls_routes`
``GET /v1/noop``                                              nothing: the benchmarks' ceiling
============================================================  ======================================

The ``/v1/support`` and ``/v1/outbox`` endpoints need the support token (``Authorization: Bearer``);
``/v1/session`` needs a session token. The OpenAPI document declares both as bearer security
schemes (``support``, ``session``), says which one each route needs, and lists every status a route
returns with its ``application/problem+json`` body (:func:`.problems.problem_responses`). Every
error is a problem detail (:mod:`.problems`); a 401 carries ``WWW-Authenticate: Bearer
realm="tokensim"``; request bodies over ``max_body_bytes``, malformed JSON, unknown fields and wrong
types get 4xx, never 500. ``/docs`` (Swagger UI) and ``/redoc`` load their scripts and styles from
the server itself (``/docs/assets``), so they work offline.
Every answer carries ``Cache-Control: no-store`` and ``X-Content-Type-Options: nosniff``
(:class:`SecurityHeaders`); limits on request heads, slow clients and connections are the server
process's (:mod:`tokensim.server.http.limits`).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from importlib import resources
from typing import Annotated, Any

import anyio.to_thread
import fastapi_offline
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tokensim.protocol.clock import Clock
from tokensim.protocol.errors import InvalidParameter, TokensimError
from tokensim.protocol.messages import PushDecision
from tokensim.protocol.phone_auth import DECISIONS_PATH, requests_path
from tokensim.protocol.provisioning import IbKeyActivation
from tokensim.server.carrier import Carrier, ReadableCarrier
from tokensim.server.config import ServerConfig
from tokensim.server.errors import NotFound, StorageUnavailable
from tokensim.server.http.deps import RunMode, ServiceDep, ServiceRoute, SupportDep, TokenDep
from tokensim.server.http.phone_docs import (
    IB_KEY_ACTIVATION_DOC,
    IB_KEY_DECISIONS_DOC,
    IB_KEY_REQUESTS_DOC,
    IbKeyAuthDep,
)
from tokensim.server.http.problems import (
    ANSWER_CODES,
    CHALLENGE_CODES,
    PROBLEM_MEDIA_TYPE,
    PROBLEM_SCHEMA,
    PROBLEMS,
    Problem,
    problem_from_error,
    problem_responses,
)
from tokensim.server.http.schemas import (
    ActivationAnswerBody,
    AnswerBody,
    ChallengeBody,
    CreateUserBody,
    EnrollBody,
    EnrollPhoneDevice,
    EnrollPinDevice,
    IbKeyActivationBody,
    LoginBody,
    PushDecisionBody,
    StartActivationBody,
    TemporaryPasscodeBody,
)
from tokensim.server.http.sls_routes import router as sls_router
from tokensim.server.service import Service
from tokensim.server.storage.reset import reset_database

__all__ = ["DOCS_ASSETS", "BodyLimit", "SecurityHeaders", "create_app"]

_log = logging.getLogger(__name__)
# Sequence numbers are 64-bit signed integers in both databases; a larger "after" cannot be bound.
_MAX_SEQ = 2**63 - 1


def _problem_response(problem: Problem, request: Request) -> JSONResponse:
    return JSONResponse(
        problem.body(request.url.path),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=problem.headers(),
    )


class BodyLimit:
    """ASGI middleware that refuses request bodies over ``limit`` bytes with a 413 problem.

    The body is read (at most ``limit`` bytes of it) before the app sees the request, so no endpoint
    ever parses an oversized body, whether it came with a ``Content-Length`` or chunked.

    Args:
        app: the wrapped application.
        limit: the largest body accepted, in bytes.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Buffer the body up to the limit, then hand the request on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away; let the app see the disconnect.
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        problem = Problem("body-too-large", f"request bodies are limited to {self.limit} bytes")
        payload = json.dumps(problem.body(str(scope.get("path", "")))).encode()
        await send(
            {
                "type": "http.response.start",
                "status": problem.status,
                "headers": [
                    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


class SecurityHeaders:
    """ASGI middleware that marks every answer as not to be stored or sniffed.

    ``Cache-Control: no-store`` keeps session tokens, codes and device data out of browser and
    proxy caches (RFC 9111 §5.2.2.5); ``X-Content-Type-Options: nosniff`` stops a browser from
    reading a JSON answer as something else. Both are added to the response's first message, two
    list appends per request; an endpoint that sets its own ``Cache-Control`` keeps it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hand the request on; add the headers to the response as it starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if not any(name.lower() == b"cache-control" for name, _ in headers):
                    headers.append(_NO_STORE)
                headers.append(_NOSNIFF)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_marked)


_NO_STORE = (b"cache-control", b"no-store")
_NOSNIFF = (b"x-content-type-options", b"nosniff")


def _replay(messages: list[Message], receive: Receive) -> Callable[[], Awaitable[Message]]:
    queue = list(messages)

    async def next_message() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return next_message


def _validation_problem(error: RequestValidationError, request: Request) -> Problem:
    errors = list(error.errors())
    for item in errors:
        location = tuple(item.get("loc", ()))
        if item.get("type") == "json_invalid":
            return Problem("malformed-json", "the body is not valid JSON")
        content_type = request.headers.get("content-type", "")
        if (
            location == ("body",)
            and isinstance(item.get("input"), str | bytes)
            and "json" not in content_type
        ):
            # Without a JSON media type the body reached validation unparsed.
            return Problem("unsupported-media-type", "send the body as application/json")
    # The offending input is never echoed: it may be a password or a code.
    details = [
        {
            "loc": ".".join(str(part) for part in item.get("loc", ())),
            "type": item.get("type"),
            "msg": item.get("msg"),
        }
        for item in errors
    ]
    summary = "; ".join(f"{d['loc']}: {d['msg']}" for d in details[:5])
    return Problem("invalid-request", summary or "invalid request", extra={"errors": details})


def _allowed_methods(request: Request) -> list[str]:
    path = request.url.path
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.methods and route.path_regex.match(path):
            methods |= route.methods
    order = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    return sorted(methods, key=lambda m: (order.index(m) if m in order else len(order), m))


def _install_error_handlers(app: FastAPI) -> None:
    async def on_tokensim(request: Request, error: Exception) -> Response:
        assert isinstance(error, TokensimError)
        problem = problem_from_error(error)
        if problem.status >= 500:
            _log.error("request failed: %s", problem.code)
        return _problem_response(problem, request)

    async def on_validation(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        return _problem_response(_validation_problem(error, request), request)

    async def on_http(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        code = {
            400: "malformed-json",  # FastAPI's "error parsing the body": not even decodable
            404: "not-found",
            405: "method-not-allowed",
            413: "body-too-large",
            415: "unsupported-media-type",
        }
        problem = Problem(code.get(error.status_code, "invalid-request"), str(error.detail))
        response = _problem_response(problem, request)
        if error.status_code == 405:
            # Starlette names the methods of the first route of the path only; a path several
            # routes share (GET and DELETE /v1/session) allows all of theirs.
            response.headers["Allow"] = ", ".join(_allowed_methods(request))
        return response

    async def on_unexpected(request: Request, error: Exception) -> Response:
        # Logged by type and place only: the message or the request could carry a secret.
        _log.error("unexpected %s in %s %s", type(error).__name__, request.method, request.url.path)
        return _problem_response(Problem("internal-error", "the server failed"), request)

    app.add_exception_handler(TokensimError, on_tokensim)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


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


def _json(data: Mapping[str, Any] | list[Any], status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status)


def _origin(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _add_routes(app: FastAPI) -> None:
    @app.get("/v1/health", tags=["meta"], responses=problem_responses("storage-unavailable"))
    def health(request: Request, service: ServiceDep) -> JSONResponse:
        """Liveness and the database in use, proven by a write.

        Each call writes to the database and commits (a row rewritten as it is), so a server whose
        database can be read but not written (a full or read-only disk) answers a 503
        ``storage-unavailable`` problem with ``"write": "failed"`` and the reason, instead of looking
        healthy while every login fails.
        """
        db = service.core.db
        try:
            db.probe_write()
        except TokensimError as e:
            _log.error("health: the database write failed: %s", e)
            problem = problem_from_error(StorageUnavailable(f"the database cannot be written: {e}"))
            body = problem.body(request.url.path) | {"database": db.dialect, "write": "failed"}
            return JSONResponse(body, status_code=problem.status, media_type=PROBLEM_MEDIA_TYPE)
        return _json({"status": "ok", "database": db.dialect, "write": "ok"})

    @app.get("/v1/noop", tags=["meta"], responses=problem_responses())
    def noop() -> JSONResponse:
        """Do nothing: the same middleware, event loop or thread pool and JSON response as every endpoint.

        The benchmarks (``bench/http_load.py``) run their load against it to measure the ceiling of
        the HTTP stack alone.
        """
        return _json({})

    @app.get("/v1/problems/{code}", tags=["meta"], responses=problem_responses("not-found", params=True))
    def problem_type(code: str) -> JSONResponse:
        """What a problem code means."""
        kind = PROBLEMS.get(code)
        if kind is None:
            raise NotFound(f"no problem code {code!r}")
        return _json(
            {"code": kind.code, "status": kind.status, "title": kind.title, "description": kind.description}
        )

    # -- login ---------------------------------------------------------------------------------

    @app.post(
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

    @app.post(
        "/v1/login/{login_id}/challenge",
        status_code=201,
        tags=["login"],
        responses=problem_responses(*CHALLENGE_CODES, "login-expired", body=True, params=True),
    )
    def login_challenge(login_id: str, body: ChallengeBody, service: ServiceDep) -> JSONResponse:
        """Issue a challenge for the chosen device (SMS and voice codes are sent now)."""
        view = service.logins.challenge(login_id, body.device_id, mode=body.mode)
        return _json(view.to_json(), 201)

    @app.post(
        "/v1/login/{login_id}/answer",
        status_code=201,
        tags=["login"],
        responses=problem_responses(*ANSWER_CODES, "login-expired", "ip-restricted", body=True, params=True),
    )
    def login_answer(login_id: str, body: AnswerBody, service: ServiceDep) -> JSONResponse:
        """Answer the challenge; a right answer returns the session token and its scope."""
        grant = service.logins.answer(login_id, body.challenge_id, body.answer)
        return _json(grant.to_json(), 201)

    @app.get("/v1/session", tags=["login"], responses=problem_responses("unauthorized"))
    def session_info(token: TokenDep, service: ServiceDep) -> JSONResponse:
        """What the bearer session may do."""
        return _json(service.logins.session_info(token).to_json())

    @app.delete(
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

    # -- IB Key app ----------------------------------------------------------------------------

    @app.post(
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

    @app.get(
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

    @app.post(
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

    # -- support -------------------------------------------------------------------------------

    @app.post(
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

    @app.get(
        "/v1/support/users/{username}",
        tags=["support"],
        responses=problem_responses("unauthorized", "not-found", params=True),
    )
    def get_user(username: str, service: SupportDep) -> JSONResponse:
        """A user with their phones and devices."""
        return _json(service.users.get_user(username).to_json())

    @app.post(
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

    @app.post(
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

    @app.post(
        "/v1/support/users/{username}/unlock",
        tags=["support"],
        responses=problem_responses("unauthorized", "not-found", params=True),
    )
    def unlock_user(username: str, service: SupportDep) -> JSONResponse:
        """Clear an account lock and its password pause."""
        return _json(service.users.unlock_account(username).to_json())

    @app.post(
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

    @app.post(
        "/v1/support/devices/{device_id}/activation/answer",
        tags=["support"],
        responses=problem_responses("unauthorized", *ANSWER_CODES, body=True, params=True),
    )
    def finish_activation(device_id: str, body: ActivationAnswerBody, service: SupportDep) -> JSONResponse:
        """Answer the activation challenge; the device becomes active."""
        return _json(
            service.enrollment.finish_activation(device_id, body.challenge_id, body.answer).to_json()
        )

    @app.post(
        "/v1/support/devices/{device_id}/activation-token",
        tags=["support"],
        responses=problem_responses("unauthorized", *CHALLENGE_CODES, params=True),
    )
    def activation_token(device_id: str, service: SupportDep) -> JSONResponse:
        """Text a new IB Key activation token."""
        return _json(service.enrollment.resend_activation_token(device_id).to_json())

    @app.post(
        "/v1/support/devices/{device_id}/unlock",
        tags=["support"],
        responses=problem_responses("unauthorized", "not-found", "device-unavailable", params=True),
    )
    def unlock_device(device_id: str, service: SupportDep) -> JSONResponse:
        """Clear a device's lockout."""
        return _json(service.support.unlock_device(device_id).to_json())

    @app.post(
        "/v1/support/devices/{device_id}/revoke",
        tags=["support"],
        responses=problem_responses("unauthorized", "not-found", "device-unavailable", params=True),
    )
    def revoke_device(device_id: str, service: SupportDep) -> JSONResponse:
        """Revoke a device for good."""
        return _json(service.support.revoke(device_id).to_json())

    @app.get(
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

    @app.post("/v1/support/reset", tags=["support"], responses=problem_responses("unauthorized", "not-found"))
    def reset(request: Request, service: SupportDep) -> JSONResponse:
        """Empty an ephemeral test server (users, devices, outbox, audit log); refused on any other."""
        if not request.app.state.ephemeral:
            raise NotFound("reset exists only on a test server started with 'tokensim serve --ephemeral'")
        reset_database(service.core.db)
        return _json({"status": "reset"})

    @app.get(
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


#: Where /docs and /redoc load Swagger UI and ReDoc from: the server itself, so they work offline.
DOCS_ASSETS = "/docs/assets"


def _add_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` with their scripts and styles served locally.

    The assets are the builds the ``fastapi-offline`` package ships (Swagger UI 5, which renders
    OpenAPI 3.1). The OpenAPI document gets the ``Problem`` schema every error response refers to.
    """
    assets = resources.files(fastapi_offline) / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> Response:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> Response:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )

    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        document.setdefault("components", {}).setdefault("schemas", {})["Problem"] = dict(PROBLEM_SCHEMA)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    config: ServerConfig,
    *,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    carrier: Carrier | None = None,
    environ: Mapping[str, str] | None = None,
    service: Service | None = None,
    migrate: bool = True,
    ephemeral: bool = False,
) -> FastAPI:
    """Build the API app; the database is migrated and the master key checked before it returns.

    Args:
        config: the configuration.
        clock: the time source (the system clock when ``None``).
        rng: the random source (``secrets.SystemRandom`` when ``None``).
        carrier: delivers texts and calls (the outbox when ``None``).
        environ: where the master key and support token variables are read.
        service: an already open service to serve instead of opening one.
        migrate: run the migrations first.
        ephemeral: a throw-away test server: ``POST /v1/support/reset`` empties it (refused otherwise).

    Returns:
        The app; ``app.state.service`` is its :class:`Service`, closed when the app shuts down.

    Raises:
        MasterKeyError: the master key is missing or wrong for this database.
    """
    opened = service or Service.open(
        config, clock=clock, rng=rng, carrier=carrier, environ=environ, migrate=migrate
    )

    # Where the plain-function endpoints run (see request_threads and tokensim.server.http.deps).
    threads = config.request_threads or (0 if opened.core.db.dialect == "sqlite" else 40)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if threads:
            anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield
        opened.close()

    app = FastAPI(
        title="tokensim verification server",
        version="1",
        description="Logins with every Secure Login System device; see the README for the flows.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.router.route_class = ServiceRoute
    app.state.service = opened
    app.state.ephemeral = ephemeral
    _install_error_handlers(app)
    _add_routes(app)
    app.include_router(sls_router)
    _add_docs(app)
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)
    app.add_middleware(RunMode, on_loop=threads == 0)
    app.add_middleware(SecurityHeaders)
    return app
