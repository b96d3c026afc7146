"""The append-only audit log of security events.

Every login step, answer, lockout, device change and support action is one row. The log only grows:
this module has no update or delete, and the database refuses both with a trigger (see the first
migration). Details are checked before they are written: a key that names a secret (``password``,
``pin``, ``code``, ``answer``, ``secret``, ``token``, ...) is a programming error, so a secret cannot
reach the log by accident.

A username an outsider typed that names no user (a typo, or a password typed in the wrong box) is
stored only as a keyed digest (:meth:`AuditLog.masked`: ``hmac:`` and 32 hex digits of an
HMAC-SHA256 under a key derived from the master key), so the log never holds it in the clear, while
support can still find the attempts made with one such name (:meth:`AuditLog.read` digests it the
same way).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from tokensim.server.storage.models import AuditEvent, User
from tokensim.server.storage.prepared import Prepared
from tokensim.server.views import AuditRecord

__all__ = ["ACTORS", "MASKED_PREFIX", "AuditLog"]

#: Who caused an event.
ACTORS = ("user", "support", "device", "system")
_FORBIDDEN = ("password", "pin", "code", "answer", "secret", "token", "passcode", "key", "response")
# Built once: every answer writes audit rows, and building a statement costs more than SQLite takes
# to run it. It runs on the session's own connection, inside the caller's transaction.
_INSERT = Prepared(insert(AuditEvent))


@cache
def _check_name(name: str) -> None:
    """Refuse a detail key that names a secret (the keys are the code's own, so the cache stays small)."""
    if any(word in name.lower() for word in _FORBIDDEN):
        raise ValueError(f"audit detail {name!r} may hold a secret; it is never logged")


#: How a digested username starts in the ``username`` column.
MASKED_PREFIX = "hmac:"


class AuditLog:
    """Writes and reads audit events inside the caller's transaction.

    Args:
        name_key: the key of the digests stored for usernames that name no user.
    """

    __slots__ = ("_name_key",)

    def __init__(self, name_key: bytes) -> None:
        self._name_key = name_key

    def masked(self, username: str) -> str:
        """The keyed digest stored instead of a username that names no user."""
        mac = hmac.new(self._name_key, username.encode("utf-8", "replace"), hashlib.sha256)
        return MASKED_PREFIX + mac.hexdigest()[:32]

    def record(
        self,
        session: Session,
        at: float,
        event: str,
        *,
        actor: str,
        outcome: str,
        user_id: str | None = None,
        username: str | None = None,
        device_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Append one event.

        Raises:
            ValueError: ``actor`` is unknown or ``detail`` has a key that names a secret.
        """
        if actor not in ACTORS:
            raise ValueError(f"unknown audit actor {actor!r}")
        facts = dict(detail or {})
        for name in facts:
            _check_name(name)
        _INSERT.run(
            session,
            {
                "at": at,
                "event": event,
                "actor": actor,
                "outcome": outcome,
                "user_id": user_id,
                "username": username,
                "device_id": device_id,
                "detail": json.dumps(facts, sort_keys=True, default=str),
            },
        )

    def read(
        self,
        session: Session,
        *,
        username: str | None = None,
        event: str | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[AuditRecord]:
        """Events after sequence number ``after``, oldest first, optionally for one user or event."""
        query = select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq).limit(limit)
        if username is not None:
            user_id = session.scalar(select(User.id).where(User.username == username))
            query = query.where(
                (AuditEvent.user_id == user_id)
                if user_id is not None
                else AuditEvent.username.in_((username, self.masked(username)))
            )
        if event is not None:
            query = query.where(AuditEvent.event == event)
        return [
            AuditRecord(
                seq=row.seq,
                at=row.at,
                event=row.event,
                actor=row.actor,
                outcome=row.outcome,
                username=row.username,
                device_id=row.device_id,
                detail=json.loads(row.detail),
            )
            for row in session.scalars(query)
        ]
