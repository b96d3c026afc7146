"""What the plugin's server puts around its ASGI app: a journal of the requests it answered, a socket.

:class:`Journal` is middleware that records the method, path and status of every request (the
``tokensim`` fixture's ``requests`` and its check for 5xx answers read it); :class:`LiveServer` serves
the app on a loopback port, for code under test that speaks HTTP itself (``tokensim_url``).

Loading this module imports neither uvicorn nor Starlette: the live server imports uvicorn when it
starts, so loading the pytest plugin stays free.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Journal", "LiveServer", "RequestRecord"]


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the server answered during the test.

    Attributes:
        method: the HTTP method.
        path: the path, without the query.
        status: the response status (500 when the app failed before answering).
    """

    method: str
    path: str
    status: int


class Journal:
    """ASGI middleware that records every request's method, path and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.records: list[RequestRecord] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def recording_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start" and not started:
                # Recorded before the client can see the response, so a test reading the journal
                # right after its request finds it there.
                started = True
                self.records.append(RequestRecord(scope["method"], scope["path"], int(message["status"])))
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        except BaseException:
            if not started:
                self.records.append(RequestRecord(scope["method"], scope["path"], 500))
            raise


class LiveServer:
    """The app on a loopback socket, served by uvicorn in a daemon thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        host, port = self._socket.getsockname()[:2]
        self.url = f"http://{host}:{port}"
        # No lifespan: the app's shutdown would close the service the in-process client still uses.
        config = uvicorn.Config(app, lifespan="off", log_level="warning", server_header=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="tokensim-live", daemon=True
        )
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the tokensim live server did not start; see the log above")
            time.sleep(0.005)

    def close(self) -> None:
        """Stop serving and close the socket (waits for the serving thread to end)."""
        self._server.should_exit = True
        self._thread.join()
        self._socket.close()
