"""Limits on what one client connection may hold of a server process: head size, head and body time.

uvicorn's options cover part of it: ``limit_concurrency`` answers 503 to requests beyond a number of
open connections, ``timeout_keep_alive`` closes idle kept-alive connections, and
``h11_max_incomplete_event_size`` bounds the request head, but only with the h11 parser. tokensim
serves with httptools (its C parser, about 1.5 times the requests per second), for which uvicorn
sets no head limit, and with either parser it has no time limit on reading a request: a connection
that sends nothing, or a byte of its head every few seconds, stays open for good, and a head of
64 MB is buffered whole. :class:`LimitedHttpToolsProtocol` is uvicorn's httptools protocol with
three checks added where the bytes arrive, each costing one timer or one addition per request:

- the request head (request line and headers) is at most ``max_header_bytes``: counted as the bytes
  arrive, so at most one read of the socket (64 KiB) more is held before the client gets 431;
- the head must be complete ``header_timeout`` seconds after the connection opened, or after its
  first byte on a kept-alive connection; else 408;
- the body must be complete ``body_timeout`` seconds after the head; else 408.

Each refusal closes the connection. The limits come from :class:`LimitedConfig`, a
:class:`uvicorn.Config` that carries them into every server process (it is what those processes
are started with).
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tokensim.server.config import ServerConfig

__all__ = ["LimitedConfig", "LimitedHttpToolsProtocol"]


class LimitedConfig(uvicorn.Config):
    """uvicorn's configuration, with tokensim's limits on reading a request.

    Args:
        app: as for :class:`uvicorn.Config`.
        max_header_bytes: the largest request head read.
        header_timeout: seconds to send a whole request head.
        body_timeout: seconds to send a whole body, after the head.
        **options: the rest of :class:`uvicorn.Config`'s options; ``http`` is set here.
    """

    def __init__(
        self,
        app: Any,
        *,
        max_header_bytes: int,
        header_timeout: float,
        body_timeout: float,
        **options: Any,
    ) -> None:
        super().__init__(app, http=LimitedHttpToolsProtocol, **options)
        self.max_header_bytes = max_header_bytes
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout


def _response(status: bytes) -> bytes:
    return b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


_DEFAULTS = ServerConfig()
_TOO_LARGE = _response(b"431 Request Header Fields Too Large")
_TIMEOUT = _response(b"408 Request Timeout")


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bound on the head's size and on the time to read a request."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        if isinstance(config, LimitedConfig):
            limits = (config.max_header_bytes, config.header_timeout, config.body_timeout)
        else:  # started with plain uvicorn options: the defaults of tokensim's configuration
            limits = (_DEFAULTS.max_header_bytes, _DEFAULTS.header_timeout, _DEFAULTS.body_timeout)
        self._max_head, self._head_seconds, self._body_seconds = limits
        #: Whether the bytes arriving belong to a request head.
        self._in_head = True
        self._head_bytes = 0
        self._timer: asyncio.TimerHandle | None = None
        #: Set once a refusal was sent: the rest of what the client sends is ignored.
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the head's clock as the connection opens."""
        super().connection_made(transport)
        self._arm(self._head_seconds)

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Count the head's bytes, parse, and refuse a head that grew past the limit."""
        if self._refused:
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self._max_head and not self.transport.is_closing():
            self._refuse(_TOO_LARGE)

    def on_message_begin(self) -> None:
        """A request starts: its head's clock runs unless it already does (a new connection)."""
        super().on_message_begin()
        if self._timer is None:
            self._arm(self._head_seconds)

    def on_headers_complete(self) -> None:
        """The head is in: refused if it is over the limit, else the body's clock replaces the head's."""
        self._in_head = False
        self._head_bytes = 0
        self._disarm()
        # A head that came in one read was not counted as it grew: its size as parsed.
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self._max_head:
            self._refuse(_TOO_LARGE)
            return
        self._arm(self._body_seconds)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        """Hand the body on, unless the request was refused."""
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        """The body is in: no clock until the next request (uvicorn's keep-alive timeout runs)."""
        self._disarm()
        self._in_head = True
        if not self._refused:
            super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        """The connection stops being HTTP: no clock of this protocol runs on it."""
        self._disarm()
        super().handle_websocket_upgrade()

    def _arm(self, seconds: float) -> None:
        self._timer = self.loop.call_later(seconds, self._timed_out, seconds)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self, seconds: float) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self.flow is not None and self.flow.read_paused:
            # The server stopped reading (a pipelined request waits its turn): not the client's delay.
            self._arm(seconds)
            return
        if self.pipeline or (
            self.cycle is not None and self.cycle.response_started and not self.cycle.response_complete
        ):
            self.transport.close()  # an answer is under way: no room for a 408 in the stream
            return
        self._refuse(_TIMEOUT)

    def _refuse(self, response: bytes) -> None:
        self._refused = True
        self._disarm()
        self.transport.write(response)
        self.transport.close()
