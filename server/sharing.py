"""Sharing a device with another username, so its holder logs in to both with one device.

Only between users of the same entity or with the same identification data, with no temporary
device on either side, and only a device at least as strong as the requester's own; the requester
proves the owner's password and answers the owner's device.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from tokensim.server.callers import SessionOperations
from tokensim.server.device_rows import device_view
from tokensim.server.errors import DeviceUnavailable, SharingRefused
from tokensim.server.lifecycle import check_password, usable_devices
from tokensim.server.rules import SHARE_RANK, TEMPORARY_KINDS
from tokensim.server.storage.models import Challenge, Device, DeviceShare, User
from tokensim.server.views import ChallengeView, DeviceView

__all__ = ["Sharing"]


class Sharing(SessionOperations):
    """Sharing another username's device."""

    __slots__ = ()

    def start_share(
        self, token: str, owner: str, owner_password: str, device_id: str, *, mode: str | None = None
    ) -> ChallengeView:
        """Ask to use another username's device: prove the owner's password, then answer the device.

        Raises:
            InvalidCredentials: the owner's username or password is wrong.
            TemporaryAccess: the session came from a temporary passcode.
            DeviceUnavailable: not the owner's active device.
            SharingRefused: a condition does not hold (entity or identity data, a temporary device
                on either side, a device weaker than the requester's, a kind that is not shared).
        """
        caller = self.caller(token)
        self._not_temporary(caller)
        owner_user = check_password(self._core, owner, owner_password, event="share.owner-password")
        requester = caller.user
        now = self._core.clock.now()
        with self._core.db.read() as session:
            device = session.get(Device, device_id)
            if device is None or device.user_id != owner_user.id or device.status != "active":
                raise DeviceUnavailable("not an active device of that user")
            self._check_share(session, requester, owner_user, device, now)
        return self._challenges.issue(device_id, purpose="share", mode=mode, user_id=requester.id).view

    def _check_share(
        self, session: DbSession, requester: User, owner: User, device: Device, now: float
    ) -> None:
        if requester.id == owner.id:
            raise SharingRefused("the device is yours already")
        same_entity = requester.entity is not None and requester.entity == owner.entity
        same_person = (
            requester.identity_digest is not None and requester.identity_digest == owner.identity_digest
        )
        if not (same_entity or same_person):
            raise SharingRefused("only between users of the same entity or with the same identification data")
        for user in (requester, owner):
            temporary = session.scalar(
                select(Device.id).where(
                    Device.user_id == user.id,
                    Device.kind.in_(TEMPORARY_KINDS),
                    Device.status == "active",
                    (Device.expires_at.is_(None)) | (Device.expires_at > now),
                )
            )
            if temporary is not None:
                raise SharingRefused(f"{user.username} has a temporary device; no sharing until it ends")
        rank = SHARE_RANK.get(device.kind)
        if rank is None:
            raise SharingRefused(f"a {device.kind} is not shared (DSC+, IB Key or code card only)")
        own = [d.kind for d, owner_name in usable_devices(session, requester.id, now) if owner_name is None]
        best = max((SHARE_RANK.get(kind, 0) for kind in own), default=0)
        if rank < best:
            raise SharingRefused(
                "only a device at least as strong as your own is shared (DSC+ > IB Key > card)"
            )

    def finish_share(self, token: str, challenge_id: str, answer: str | None) -> DeviceView:
        """Answer the owner's device; from now on the requester may log in with it too.

        Raises:
            NotFound: no such share challenge of this user.
            WrongAnswer, ReplayedCode, ExpiredChallenge, ...: as for any answer.
        """
        caller = self.caller(token)
        self._own_challenge(challenge_id, caller, "share")
        core = self._core

        def complete(session: DbSession, _c: Challenge, device: Device, user: User, now: float) -> DeviceView:
            owner = session.get(User, device.user_id)
            assert owner is not None
            self._check_share(session, user, owner, device, now)
            if session.get(DeviceShare, (device.id, user.id)) is None:
                session.add(DeviceShare(device_id=device.id, user_id=user.id, created_at=now))
            core.audit.record(
                session,
                now,
                "device.shared",
                actor="user",
                outcome="ok",
                user_id=user.id,
                username=user.username,
                device_id=device.id,
                detail={"kind": device.kind, "owner": owner.username},
            )
            return device_view(device, owner=owner.username)

        return self._challenges.answer(challenge_id, answer, purpose="share", complete=complete)
