"""``tokensim keypad --serve``: the keypad in a browser (textual-serve), leaving no process behind.

textual-serve starts one app process per browser session. This module keeps its server and its
websocket protocol, and changes how the app processes are run and ended:

* each app is started without a shell, in a session (process group) of its own, with the
  :mod:`~tokensim.emulators.keypad.web_driver` driver, which exits the app when the server goes;
* when its browser session closes (the websocket ends for any reason), the app is asked to quit,
  then sent SIGTERM, then SIGKILL, each after :data:`STOP_GRACE_SECONDS`, and waited for;
* when the server stops (Ctrl+C, SIGTERM), every live app is ended the same way before it exits.

The page is served without anything from the internet: the packaged template's web-font link is
replaced by ``@font-face`` rules for the Roboto Mono files that textual-serve ships in its statics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
from collections.abc import Sequence
from pathlib import Path

import jinja2
from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from tokensim.emulators.keypad.web_driver import DRIVER_PATH

__all__ = ["STOP_GRACE_SECONDS", "KeypadAppService", "KeypadServer", "page_template"]

_log = logging.getLogger(__name__)

#: Seconds an app gets for each step of being stopped (quit, then SIGTERM) before the next one.
STOP_GRACE_SECONDS = 3.0

# The template's only internet reference: a Google Fonts stylesheet for "Roboto Mono".
_FONT_LINK = re.compile(r"<link\s[^>]*href=\"https://fonts\.googleapis\.com/[^\"]*\"[^>]*/?>", re.DOTALL)
_LOCAL_FONTS = """<style>
      @font-face {
        font-family: "Roboto Mono";
        font-style: normal;
        src: url("{{ config.static.url }}fonts/RobotoMono-VariableFont_wght.ttf") format("truetype");
      }
      @font-face {
        font-family: "Roboto Mono";
        font-style: italic;
        src: url("{{ config.static.url }}fonts/RobotoMono-Italic-VariableFont_wght.ttf") format("truetype");
      }
    </style>"""


def page_template(templates: Path) -> str:
    """textual-serve's page template with its web fonts taken from the server's own statics.

    Args:
        templates: textual-serve's templates folder.

    Raises:
        RuntimeError: the template no longer has the font link this replaces (textual-serve changed).
    """
    text = (templates / "app_index.html").read_text(encoding="utf-8")
    local, count = _FONT_LINK.subn(_LOCAL_FONTS, text)
    if count != 1:
        raise RuntimeError("textual-serve's page template changed: its font link was not found")
    return local


class KeypadAppService(AppService):
    """One browser session's app process; see the module docstring.

    Args:
        argv: the app's command line (run without a shell).
        grace: seconds for each step of stopping the app.
        **kwargs: as :class:`textual_serve.app_service.AppService` takes them.
    """

    def __init__(self, argv: Sequence[str], *, grace: float = STOP_GRACE_SECONDS, **kwargs: object) -> None:
        super().__init__(" ".join(argv), **kwargs)  # type: ignore[arg-type]
        self._argv = list(argv)
        self._grace = grace
        self._stopping: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        """The app process's id, once started."""
        return None if self._process is None else self._process.pid

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        environment = super()._build_environment(width=width, height=height)
        environment["TEXTUAL_DRIVER"] = DRIVER_PATH
        return environment

    async def _open_app_process(self, width: int = 80, height: int = 24) -> asyncio.subprocess.Process:
        self._process = process = await asyncio.create_subprocess_exec(
            *self._argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._build_environment(width=width, height=height),
            start_new_session=True,  # its own process group: the terminal's Ctrl+C is the server's to pass on
        )
        assert process.stdin is not None
        self._stdin = process.stdin
        return process

    async def stop(self) -> None:
        """End the app process and wait for it; safe to call more than once, and from several tasks."""
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self._stop())
        await asyncio.shield(self._stopping)

    async def _stop(self) -> None:
        process = self._process
        if process is None:
            return
        await self._download_manager.cancel_app_downloads(app_service_id=self.app_service_id)
        if process.returncode is None:
            await self.send_meta({"type": "quit"})
        for step in (signal.SIGTERM, signal.SIGKILL, None):
            try:
                await asyncio.wait_for(process.wait(), self._grace)
                break
            except TimeoutError:
                if step is None:
                    _log.error("app process %d did not end after SIGKILL", process.pid)
                    break
                _log.warning("app process %d is still running: sending %s", process.pid, step.name)
                self._signal_group(process.pid, step)
        if self._task is not None:
            task, self._task = self._task, None
            await task  # reads the app's last output until the pipe closes

    @staticmethod
    def _signal_group(pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)  # the app leads its own group (start_new_session)


class KeypadServer(Server):
    """textual-serve's server for the keypad; see the module docstring.

    Args:
        argv: the app's command line; each browser session runs it once.
        host: where to listen.
        port: the port.
        title: the page's title.
        grace: seconds for each step of stopping an app.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        host: str,
        port: int,
        title: str,
        grace: float = STOP_GRACE_SECONDS,
    ) -> None:
        super().__init__(" ".join(argv), host=host, port=port, title=title)
        self._argv = list(argv)
        self._grace = grace
        self._services: set[KeypadAppService] = set()

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        import aiohttp_jinja2  # textual-serve's own dependency

        loader = jinja2.DictLoader({"app_index.html": page_template(self.templates_path)})
        aiohttp_jinja2.setup(app, loader=loader)
        return app

    async def on_shutdown(self, app: web.Application) -> None:
        """Stop every live app before the server goes."""
        services = list(self._services)
        if services:
            _log.info("stopping %d app process(es)", len(services))
            await asyncio.gather(*(service.stop() for service in services))

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """One browser session: start its app, relay until the websocket ends, then stop the app."""
        websocket = web.WebSocketResponse(heartbeat=15)
        width = to_int(request.query.get("width", "80"), 80)
        height = to_int(request.query.get("height", "24"), 24)
        await websocket.prepare(request)
        service = KeypadAppService(
            self._argv,
            grace=self._grace,
            write_bytes=websocket.send_bytes,
            write_str=websocket.send_str,
            close=websocket.close,
            download_manager=self.download_manager,
            debug=self.debug,
        )
        self._services.add(service)
        try:
            await service.start(width, height)
            await self._process_messages(websocket, service)
        except Exception:
            _log.exception("browser session failed")
        finally:
            await service.stop()  # if this is cancelled, the stop goes on and on_shutdown waits for it
            self._services.discard(service)
            if not websocket.closed:
                await websocket.close()
        return websocket
