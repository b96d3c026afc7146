"""Server calls off the event loop: a backend call runs in a worker thread, its outcome comes back to the UI.

A backend may block on the network; running it in a thread keeps the keypads responsive meanwhile.
The outcome is handed back with :meth:`textual.app.App.call_from_thread`, which waits until the UI
has taken it, so once the app's workers are complete, the screen shows the outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from textual.widget import Widget

from tokensim.protocol.errors import TokensimError

__all__ = ["call_backend"]

_log = logging.getLogger(__name__)

_T = TypeVar("_T")


def call_backend(
    widget: Widget,
    call: Callable[[], _T],
    done: Callable[[_T], object],
    failed: Callable[[str], object],
) -> None:
    """Run ``call`` in a worker thread of ``widget``; then ``done(result)`` or ``failed(message)`` in the UI.

    Args:
        widget: the widget the worker belongs to (it is cancelled when the widget goes).
        call: the blocking backend call.
        done: takes the result, on the UI's thread.
        failed: takes a message fit for the screen, on the UI's thread.
    """
    app = widget.app

    def work() -> None:
        try:
            result = call()
        except TokensimError as e:
            app.call_from_thread(failed, str(e))
            return
        except Exception as e:  # an adapter bug must not kill the app: show it, log it
            _log.exception("server call failed")
            app.call_from_thread(failed, f"unexpected error: {type(e).__name__}")
            return
        app.call_from_thread(done, result)

    widget.run_worker(work, thread=True, group="backend", exit_on_error=False)
