"""Texts and calls handed to the carrier, a failed hand-over audited and told to the user.

A carrier that raises must never become a 500: :func:`deliver` records the failure in the audit log
and raises :class:`~tokensim.server.errors.DeliveryFailed`, which says to ask again or use another way.
"""

from __future__ import annotations

import logging

from tokensim.server.carrier import Message
from tokensim.server.core import Core
from tokensim.server.errors import DeliveryFailed

__all__ = ["SENDER", "deliver"]

_log = logging.getLogger(__name__)

#: Who texts and calls appear to come from.
SENDER = "tokensim"


def deliver(core: Core, message: Message, *, user_id: str, username: str, device_id: str) -> None:
    """Hand a text or call to the carrier; a failure is audited and becomes :class:`DeliveryFailed`.

    Raises:
        DeliveryFailed: the carrier raised.
    """
    try:
        core.carrier.send(message)
    except Exception as e:  # any gateway failure: the user must be told, never a 500
        _log.warning("carrier failed to send a %s: %s", message.channel, type(e).__name__)
        with core.db.write() as session:
            core.audit.record(
                session,
                core.clock.now(),
                "carrier.send",
                actor="system",
                outcome="failed",
                user_id=user_id,
                username=username,
                device_id=device_id,
                detail={"channel": message.channel, "error": type(e).__name__},
            )
        raise DeliveryFailed(f"the {message.channel} could not be sent; ask again or use another way") from e
