"""What the route modules share: where endpoints run, the service, bearer and support dependencies, and
the JSON answer every endpoint returns (:func:`json_response`).

The endpoints are plain functions (the service is synchronous). FastAPI would run each in its thread
pool; :class:`ServiceRoute` runs them either there or on the event loop itself, as :class:`RunMode`
says for the app. On SQLite the event loop is the better place: one thread does a process's
database work anyway (SQLite's writers take turns), and the hop to a pool thread and back costs
more CPU than a verification's SQL (the no-op endpoint answers about 2,700 requests a second through
the pool and 11,000 on the loop, on this project's 2-core benchmark machine). On PostgreSQL the pool
stays, so requests overlap their waits on the database server.

The dependencies do no I/O, so they are coroutines: a plain one would cost a thread hop of its own.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from tokensim.server.errors import Unauthorized
from tokensim.server.service import Service
from tokensim.server.throttle import CLIENT_ADDRESS

__all__ = [
    "SESSION_SCHEME",
    "SUPPORT_SCHEME",
    "RunMode",
    "ServiceDep",
    "ServiceRoute",
    "SupportDep",
    "TokenDep",
    "bearer",
    "json_response",
]

#: Whether the request being served runs its plain-function endpoint on the event loop.
_ON_LOOP: ContextVar[bool] = ContextVar("tokensim_endpoints_on_loop", default=False)


class RunMode:
    """ASGI middleware: marks each request of this app as run on the event loop, or in the pool.

    It also sets :data:`~tokensim.server.throttle.CLIENT_ADDRESS` to the request's client address,
    which the password throttle counts against wherever a password is checked.

    Args:
        app: the wrapped application.
        on_loop: run plain-function endpoints on the event loop, one request at a time.
    """

    def __init__(self, app: ASGIApp, on_loop: bool) -> None:
        self.app = app
        self.on_loop = on_loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request with the mark set (a context variable, so only this request sees it)."""
        mark = _ON_LOOP.set(self.on_loop)
        client = scope.get("client")
        address = CLIENT_ADDRESS.set(str(client[0]) if client else "unknown")
        try:
            await self.app(scope, receive, send)
        finally:
            CLIENT_ADDRESS.reset(address)
            _ON_LOOP.reset(mark)


class ServiceRoute(APIRoute):
    """A route whose plain-function endpoint runs where :class:`RunMode` says: event loop or pool.

    The endpoint keeps its signature (FastAPI reads it through ``functools.wraps``), so its
    parameters, validation and OpenAPI description are what they were.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = _run_where_marked(endpoint)
        super().__init__(path, endpoint, **kwargs)


def _run_where_marked(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(endpoint)
    async def run(**values: Any) -> Any:
        if _ON_LOOP.get():
            return endpoint(**values)
        return await run_in_threadpool(endpoint, **values)

    return run


async def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def bearer(request: Request) -> str:
    """The token of an ``Authorization: Bearer`` header.

    Raises:
        Unauthorized: no such header.
    """
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("send 'Authorization: Bearer <token>'", presented=False)
    return value.strip()


#: The OpenAPI security schemes (``bearer`` above does the checking: these only declare them).
SESSION_SCHEME = HTTPBearer(
    scheme_name="session",
    description="The session token a login's right answer returns (POST /v1/login/{login_id}/answer).",
    auto_error=False,
)
SUPPORT_SCHEME = HTTPBearer(
    scheme_name="support",
    description="The support token (the server's support.token file or TOKENSIM_SUPPORT_TOKEN).",
    auto_error=False,
)


async def _token(request: Request, _declared: Annotated[object, Security(SESSION_SCHEME)]) -> str:
    return bearer(request)


async def _support(
    request: Request,
    service: Annotated[Service, Depends(_service)],
    _declared: Annotated[object, Security(SUPPORT_SCHEME)],
) -> Service:
    if not service.core.check_support(bearer(request)):
        raise Unauthorized("the support token is wrong")
    return service


#: The running service.
ServiceDep = Annotated[Service, Depends(_service)]
#: The running service, once the request carries the support token.
SupportDep = Annotated[Service, Depends(_support)]
#: The request's bearer token (a session token).
TokenDep = Annotated[str, Depends(_token)]


def json_response(data: Mapping[str, Any] | list[Any], status: int = 200) -> JSONResponse:
    """``data`` as a JSON answer with status code ``status``."""
    return JSONResponse(data, status_code=status)
