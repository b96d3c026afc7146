"""The HTTP API: a FastAPI app over :class:`~tokensim.server.service.Service`.

:func:`create_app` takes the configuration, and optionally the clock, the random source and the
carrier, so tests drive the same app with a fixed clock. The OpenAPI description is served at
``/openapi.json`` and browsable at ``/docs``. This module wires the app: its middleware, error
handlers and docs pages; the endpoints are in :mod:`tokensim.server.http.routes`, one module per
subject, each listing its routes.

The ``/v1/support`` and ``/v1/outbox`` endpoints need the support token (``Authorization: Bearer``);
the session endpoints a session token. The OpenAPI document declares both as bearer security
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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import anyio.to_thread
import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tokensim.protocol.clock import Clock
from tokensim.protocol.errors import TokensimError
from tokensim.server.carrier import Carrier
from tokensim.server.config import ServerConfig
from tokensim.server.http.deps import RunMode, ServiceRoute
from tokensim.server.http.problems import PROBLEM_MEDIA_TYPE, PROBLEM_SCHEMA, Problem, problem_from_error
from tokensim.server.http.routes import ROUTERS
from tokensim.server.service import Service

__all__ = ["DOCS_ASSETS", "BodyLimit", "SecurityHeaders", "create_app"]

_log = logging.getLogger(__name__)


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


def _routes(routes: Iterable[BaseRoute]) -> Iterator[Route]:
    """The routes in ``routes`` and in the routers included there (FastAPI may keep one whole, as an
    entry with ``original_router``); the routers have no prefix, so their paths are the app's."""
    for route in routes:
        if isinstance(route, Route):
            yield route
        included = getattr(route, "original_router", None)
        if isinstance(included, APIRouter):
            yield from _routes(included.routes)


def _allowed_methods(request: Request) -> list[str]:
    path = request.url.path
    methods: set[str] = set()
    for route in _routes(request.app.routes):
        if route.methods and route.path_regex.match(path):
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
    for router in ROUTERS:
        app.include_router(router)
    _add_docs(app)
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)
    app.add_middleware(RunMode, on_loop=threads == 0)
    app.add_middleware(SecurityHeaders)
    return app
