"""The endpoints about the server itself: its health, a no-op, the problem codes, a test server's reset.

=============================  ================================================================
endpoint                       what
=============================  ================================================================
``GET /v1/health``             a database write (503 if it fails)
``GET /v1/noop``               nothing: the benchmarks' ceiling
``GET /v1/problems/{code}``    what a problem code means
``POST /v1/support/reset``     empty an ephemeral test server (support token; 404 elsewhere)
=============================  ================================================================
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tokensim.protocol.errors import TokensimError
from tokensim.server.errors import NotFound, StorageUnavailable
from tokensim.server.http.deps import ServiceDep, ServiceRoute, SupportDep
from tokensim.server.http.deps import json_response as _json
from tokensim.server.http.problems import PROBLEM_MEDIA_TYPE, PROBLEMS, problem_from_error, problem_responses
from tokensim.server.storage.reset import reset_database

__all__ = ["router"]

_log = logging.getLogger(__name__)


def _add_routes(router: APIRouter) -> None:
    """Declare the endpoints on ``router`` (nested, so the module's one public name is the router)."""

    @router.get("/v1/health", tags=["meta"], responses=problem_responses("storage-unavailable"))
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

    @router.get("/v1/noop", tags=["meta"], responses=problem_responses())
    def noop() -> JSONResponse:
        """Do nothing: the same middleware, event loop or thread pool and JSON response as every endpoint.

        The benchmarks (``bench/http_load.py``) run their load against it to measure the ceiling of
        the HTTP stack alone.
        """
        return _json({})

    @router.get("/v1/problems/{code}", tags=["meta"], responses=problem_responses("not-found", params=True))
    def problem_type(code: str) -> JSONResponse:
        """What a problem code means."""
        kind = PROBLEMS.get(code)
        if kind is None:
            raise NotFound(f"no problem code {code!r}")
        return _json(
            {"code": kind.code, "status": kind.status, "title": kind.title, "description": kind.description}
        )

    @router.post(
        "/v1/support/reset", tags=["support"], responses=problem_responses("unauthorized", "not-found")
    )
    def reset(request: Request, service: SupportDep) -> JSONResponse:
        """Empty an ephemeral test server (users, devices, outbox, audit log); refused on any other."""
        if not request.app.state.ephemeral:
            raise NotFound("reset exists only on a test server started with 'tokensim serve --ephemeral'")
        reset_database(service.core.db)
        return _json({"status": "reset"})


#: The router of this module's endpoints (the app includes it: :data:`tokensim.server.http.routes.ROUTERS`).
router = APIRouter(route_class=ServiceRoute)
_add_routes(router)
