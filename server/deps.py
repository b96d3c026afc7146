"""The FastAPI dependencies the route modules share: the service, the bearer token, the support check.

They do no I/O, so they are coroutines: FastAPI runs a plain function in its thread pool, which
would cost every request one more thread hop on top of the endpoint's own.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tokensim.server.errors import Unauthorized
from tokensim.server.service import Service

__all__ = ["ServiceDep", "SupportDep", "TokenDep", "bearer"]


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
        raise Unauthorized("send 'Authorization: Bearer <token>'")
    return value.strip()


async def _token(request: Request) -> str:
    return bearer(request)


async def _support(request: Request, service: Annotated[Service, Depends(_service)]) -> Service:
    if not service.core.check_support(bearer(request)):
        raise Unauthorized("the support token is wrong")
    return service


#: The running service.
ServiceDep = Annotated[Service, Depends(_service)]
#: The running service, once the request carries the support token.
SupportDep = Annotated[Service, Depends(_support)]
#: The request's bearer token (a session token).
TokenDep = Annotated[str, Depends(_token)]
