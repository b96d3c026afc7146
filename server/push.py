"""Push and QR requests as the IB Key phone sees them: the open ones, its signed requests, its decisions.

A phone authenticates each request it makes with its registration key
(:meth:`Pushes.authenticate_phone`), lists the requests waiting for it (:meth:`Pushes.pending_pushes`)
and signs a decision on one (:meth:`Pushes.decide`). A decision only moves the request to
``approved`` or ``denied``: the login or action it was for completes when its caller answers the
challenge (:meth:`tokensim.server.challenges.Challenges.answer`), which then finds it approved.
"""

from __future__ import annotations

import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import bindparam, or_, select, update

from tokensim.protocol.errors import InvalidCode, InvalidParameter, ReplayedCode
from tokensim.protocol.messages import PushDecision, PushRequest
from tokensim.protocol.phone_auth import AUTH_SCHEME, REQUEST_WINDOW, RequestAuth, request_signing_bytes
from tokensim.server.core import Core
from tokensim.server.errors import NotFound, Unauthorized
from tokensim.server.outcomes import Outcomes
from tokensim.server.storage.models import Challenge, Device
from tokensim.server.storage.prepared import Prepared, PreparedLoad
from tokensim.server.verify import check_push_decision, load_public_key

__all__ = ["Pushes"]

#: A phone's decision moves an open push or QR request to ``approved`` or ``denied``, once, before it expires.
_DECIDED = Prepared(
    update(Challenge)
    .where(
        Challenge.id == bindparam("challenge_id"),
        Challenge.status == "open",
        Challenge.expires_at > bindparam("now"),
    )
    .values(status=bindparam("status"))
)
#: An IB Key registration, found by its serial, to check a phone's signed request.
_PHONE = PreparedLoad(select(Device).where(Device.serial == bindparam("serial")))
#: A phone's signed request is taken once: its time must be later than the last one taken.
_REQUEST_TIME = Prepared(
    update(Device)
    .where(
        Device.id == bindparam("device_id"),
        or_(Device.request_time.is_(None), Device.request_time < bindparam("time_ms")),
    )
    .values(request_time=bindparam("time_ms"))
)


class Pushes:
    """Lists push requests to a phone, checks its signed requests and takes its decisions.

    Args:
        core: the shared parts.
        outcomes: reads a challenge and refuses a decision its state rules out.
    """

    __slots__ = ("_core", "_outcomes")

    def __init__(self, core: Core, outcomes: Outcomes) -> None:
        self._core = core
        self._outcomes = outcomes

    def pending_pushes(self, registration: str) -> list[PushRequest]:
        """Open push requests for the IB Key registration whose serial is ``registration``."""
        core = self._core
        now = core.clock.now()
        with core.db.read() as session:
            rows = session.scalars(
                select(Challenge)
                .join(Device, Device.id == Challenge.device_id)
                .where(
                    Device.serial == registration,
                    Device.status == "active",
                    Challenge.mode == "push",
                    Challenge.status == "open",
                    Challenge.expires_at > now,
                )
                .order_by(Challenge.created_at)
            )
            return [PushRequest.from_json(json.loads(row.push_request or "{}")) for row in rows]

    def authenticate_phone(
        self, header: str | None, method: str, path: str, *, registration: str | None = None
    ) -> str:
        """Check a phone's signed request (:mod:`tokensim.protocol.phone_auth`); return its registration.

        The signature must verify with the active registration's key, its time be within
        :data:`~tokensim.protocol.phone_auth.REQUEST_WINDOW` of the server's clock and later than the
        registration's last accepted request (moved forward here, atomically, so a request is taken
        once even when copies race). Nothing else changes: no counter, no challenge.

        Raises:
            Unauthorized: no or a malformed header, an unknown or inactive registration, a signature
                that does not verify, a time out of the window, or a replayed request.
        """
        if header is None:
            raise Unauthorized(f"send 'Authorization: {AUTH_SCHEME} ...' signed with the registration key")
        try:
            auth = RequestAuth.parse(header)
            signed = request_signing_bytes(method, path, auth.registration, auth.time_ms)
        except InvalidParameter as e:
            raise Unauthorized(str(e)) from None
        if registration is not None and auth.registration != registration:
            raise Unauthorized("the request is signed by another registration than the one it names")
        core = self._core
        now = core.clock.now()
        row = _PHONE.one_or_none(core.db, {"serial": auth.registration})
        device: Device | None = None if row is None else row[0]
        refused = "the request is not signed by an active IB Key registration"
        if (
            device is None
            or device.kind != "ib-key"
            or device.status != "active"
            or device.public_key is None
        ):
            raise Unauthorized(refused)
        try:
            load_public_key(device.public_key).verify(auth.signature, signed, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise Unauthorized(refused) from None
        if abs(auth.time_ms / 1000 - now) > REQUEST_WINDOW:
            raise Unauthorized(
                f"the request's time is more than {REQUEST_WINDOW:.0f} s from the server's clock"
            )
        with core.db.write() as session:
            if _REQUEST_TIME.run(session, {"device_id": device.id, "time_ms": auth.time_ms}) != 1:
                raise Unauthorized("replayed request: its time is not later than the last one taken")
        return auth.registration

    def decide(self, decision: PushDecision, registration: str | None = None) -> str:
        """Take a phone's signed decision on a push or QR request; return ``approved`` or ``denied``.

        Args:
            decision: the decision.
            registration: the registration that signed the request carrying it
                (:meth:`authenticate_phone`); ``None`` when the caller checked nothing (in-process).

        A signature that does not verify is refused and audited; it counts against nothing (no
        device failure, no challenge attempt): only the registration's key can make one that does.

        Raises:
            Unauthorized: the decision is signed for another registration than the request's
                signer, or its signature does not verify.
            NotFound: no such request for that registration.
            ExpiredChallenge: too late.
            ReplayedCode: the request was decided already.
            DeviceLocked: the device is locked.
        """
        core = self._core
        now = core.clock.now()
        if registration is not None and decision.key_id != registration:
            raise Unauthorized("the decision's key_id is not the registration that signed the request")
        row = self._outcomes.load(decision.request_id)
        if row is None:
            raise NotFound("no such request for this registration")
        challenge, device, user, _login = row
        if challenge.push_request is None or device.serial != decision.key_id or device.public_key is None:
            raise NotFound("no such request for this registration")
        if challenge.status in ("approved", "denied", "answered"):
            raise ReplayedCode("this request was decided already")
        self._outcomes.check_state(challenge, device, user, now)
        request = PushRequest.from_json(json.loads(challenge.push_request))
        try:
            check_push_decision(device.public_key, request, decision)
        except InvalidCode:
            with core.db.write() as session:
                core.audit.record(
                    session,
                    now,
                    "push.decision",
                    actor="device",
                    outcome="bad-signature",
                    user_id=user.id,
                    username=user.username,
                    device_id=device.id,
                    detail={"mode": challenge.mode},
                )
            raise Unauthorized("the decision's signature does not verify with the registration key") from None
        status = "approved" if decision.approved else "denied"
        with core.db.write() as session:
            if _DECIDED.run(session, {"challenge_id": challenge.id, "now": now, "status": status}) != 1:
                raise ReplayedCode("this request was decided already")
            core.audit.record(
                session,
                now,
                "push.decision",
                actor="device",
                outcome=status,
                user_id=user.id,
                username=user.username,
                device_id=device.id,
                detail={"mode": challenge.mode},
            )
        return status
