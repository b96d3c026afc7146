"""The support desk's actions for a caller: identity, temporary passcodes, PIN resets, device reports.

Support keeps the user's identification data (as an HMAC: it decides who may share a device) and
records each identity verification it makes; a recent verification, used once, allows a temporary
passcode or the reset of a forgotten PIN. Support also records what happened to a device (which
revokes it and settles its reserve), revokes devices and clears a device's lockout.
"""

from __future__ import annotations

from sqlalchemy import select, update

from tokensim.protocol.errors import InvalidParameter
from tokensim.server.core import Core
from tokensim.server.device_rows import device_secrets, device_view
from tokensim.server.enrollment import PIN_FORMAT
from tokensim.server.errors import ConsecutiveTemporary, IdentityCheckRequired, NotFound
from tokensim.server.login import end_sessions
from tokensim.server.rules import identity_digest
from tokensim.server.storage.models import Device, IdentityCheck, Reserve, User
from tokensim.server.storage.prepared import changed
from tokensim.server.users import Users, user_by_name
from tokensim.server.verify import POLICIES, TEMPORARY_KIND, DeviceSecrets
from tokensim.server.views import DeviceView, Enrollment, IdentityCheckView, UserView

__all__ = ["CONDITIONS", "IDENTITY_FIELDS", "Support"]

#: What support may report about a device, and what it does to the device's reserve.
CONDITIONS = {
    "lost": "charged",
    "stolen": "charged",
    "damaged": "charged",
    "not-returned": "charged",
    "battery": "released",
    "returned": "released",
}
#: The identification data compared for device sharing (KB2481 a).
IDENTITY_FIELDS = ("date_of_birth", "citizenship", "residence", "id_type", "id_number")

_PASSCODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class Support:
    """What the support API does for a caller on the phone, and with a device.

    Args:
        core: the shared parts.
        users: reads the user back after a change.
    """

    __slots__ = ("_core", "_users")

    def __init__(self, core: Core, users: Users) -> None:
        self._core = core
        self._users = users

    # -- identity and temporary passcode -------------------------------------------------------

    def record_identity(self, username: str, fields: dict[str, str]) -> UserView:
        """Keep the user's identification data, as an HMAC only (it decides who may share a device).

        Args:
            username: whose data.
            fields: every one of :data:`IDENTITY_FIELDS`.

        Raises:
            NotFound: no such user.
            InvalidParameter: a field is missing, unknown or empty.
        """
        core = self._core
        if set(fields) != set(IDENTITY_FIELDS):
            raise InvalidParameter(f"identity: give exactly {', '.join(IDENTITY_FIELDS)}")
        digest = identity_digest(core.keys.derive("identity"), fields)
        now = core.clock.now()
        with core.db.write() as session:
            user = user_by_name(session, username)
            user.identity_digest = digest
            core.audit.record(
                session,
                now,
                "user.identity",
                actor="support",
                outcome="ok",
                user_id=user.id,
                username=username,
            )
        return self._users.get_user(username)

    def verify_identity(self, username: str, *, method: str, agent: str) -> IdentityCheckView:
        """Record that support verified the caller's identity; it allows one temporary passcode.

        Raises:
            NotFound: no such user.
            InvalidParameter: an empty method or agent.
        """
        core = self._core
        if not method.strip() or not agent.strip():
            raise InvalidParameter("an identity check names its method and the agent")
        now = core.clock.now()
        check_id = core.new_id()
        expires_at = now + core.config.identity_check_ttl
        with core.db.write() as session:
            user = user_by_name(session, username)
            session.add(
                IdentityCheck(
                    id=check_id,
                    user_id=user.id,
                    method=method[:32],
                    agent=agent[:64],
                    created_at=now,
                    expires_at=expires_at,
                )
            )
            core.audit.record(
                session,
                now,
                "identity.verified",
                actor="support",
                outcome="ok",
                user_id=user.id,
                username=username,
                detail={"method": method[:32], "agent": agent[:64]},
            )
        return IdentityCheckView(check_id, username, method[:32], agent[:64], now, expires_at)

    def issue_temporary_passcode(
        self, username: str, *, verification_id: str, length: int | None = None
    ) -> Enrollment:
        """Issue a static temporary passcode (uppercase letters and digits), active at once.

        Only after a recorded identity verification (:meth:`verify_identity`, unused and recent), and
        never twice in a row: a permanent device must have been reactivated (or a replacement
        activated) since the last one. The user's active permanent devices go back to ``pending``
        (the device is misplaced); each reactivates by answering a challenge, which ends the passcode.
        The passcode gives full access for ``temporary_full_access`` seconds, then only prints the
        online card for ``temporary_card_printing`` seconds. It is shown in the returned value only;
        the server keeps its argon2id hash.

        Raises:
            NotFound: no such user.
            InvalidParameter: ``length`` below 10.
            IdentityCheckRequired: no such verification for this user, or it expired or was used.
            ConsecutiveTemporary: a temporary passcode was issued since the last reactivation.
        """
        core = self._core
        length = core.config.temporary_passcode_length if length is None else length
        if length < 10:
            raise InvalidParameter("a temporary passcode has at least 10 characters")
        now = core.clock.now()
        passcode = "".join(core.rng.choice(_PASSCODE_ALPHABET) for _ in range(length))
        secrets = DeviceSecrets(static_hash=core.hasher.hash(passcode))
        device_id = core.new_id()
        with core.db.write() as session:
            user = user_by_name(session, username)
            unused = update(IdentityCheck).where(
                IdentityCheck.id == verification_id,
                IdentityCheck.user_id == user.id,
                IdentityCheck.used_at.is_(None),
                IdentityCheck.expires_at > now,
            )
            if changed(session, unused.values(used_at=now)) != 1:
                raise IdentityCheckRequired("record an identity verification first (it is used once)")
            earlier = select(Device.id).where(Device.user_id == user.id, Device.kind == TEMPORARY_KIND)
            if user.last_reactivated_at is not None:
                earlier = earlier.where(Device.issued_at >= user.last_reactivated_at)
            if session.scalar(earlier.limit(1)) is not None:
                raise ConsecutiveTemporary(
                    "a temporary passcode was issued already; a physical security device must be "
                    "activated before the next one"
                )
            permanent = [kind for kind, policy in POLICIES.items() if policy.permanent]
            changed(
                session,
                update(Device)
                .where(Device.user_id == user.id, Device.status == "active", Device.kind.in_(permanent))
                .values(status="pending", deactivated_at=now),
            )
            device = Device(
                id=device_id,
                user_id=user.id,
                kind=TEMPORARY_KIND,
                serial=f"TMP{core.rng.randrange(10**9, 10**10)}",
                label="temporary passcode",
                status="active",
                secrets=core.keys.seal(secrets.to_bytes(), "devices", device_id, "secrets"),
                digits=length,
                step=30,
                algorithm="SHA1",
                firmware="current",
                failures=0,
                lockouts=0,
                issued_at=now,
                expires_at=now + core.config.temporary_full_access + core.config.temporary_card_printing,
                created_at=now,
                activated_at=now,
            )
            session.add(device)
            core.audit.record(
                session,
                now,
                "device.enrolled",
                actor="support",
                outcome="ok",
                user_id=user.id,
                username=user.username,
                device_id=device_id,
                detail={"kind": TEMPORARY_KIND, "verification": verification_id},
            )
        return Enrollment(device=device_view(device), activation="none", passcode=passcode)

    def reset_pin(self, device_id: str, *, verification_id: str, new_pin: str) -> DeviceView:
        """Reset the PIN of a DSC+, Gold or Platinum whose holder forgot it, after an identity check.

        Raises:
            NotFound: no such device.
            InvalidParameter: the PIN is not 4 digits, or the server checks no PIN of this kind.
            IdentityCheckRequired: no such verification for the device's user, or it expired or was used.
        """
        core = self._core
        if not PIN_FORMAT.fullmatch(new_pin):
            raise InvalidParameter("a PIN has 4 digits")
        now = core.clock.now()
        with core.db.write() as session:
            device = session.get(Device, device_id)
            if device is None:
                raise NotFound("no such device")
            secrets = device_secrets(core, device)
            if secrets.pin is None:
                raise InvalidParameter(f"a {device.kind} has no PIN the server keeps")
            unused = update(IdentityCheck).where(
                IdentityCheck.id == verification_id,
                IdentityCheck.user_id == device.user_id,
                IdentityCheck.used_at.is_(None),
                IdentityCheck.expires_at > now,
            )
            if changed(session, unused.values(used_at=now)) != 1:
                raise IdentityCheckRequired("record an identity verification first (it is used once)")
            fresh = DeviceSecrets(secret=secrets.secret, totp_secret=secrets.totp_secret, pin=new_pin)
            sealed = core.keys.seal(fresh.to_bytes(), "devices", device.id, "secrets")
            changed(session, update(Device).where(Device.id == device.id).values(secrets=sealed))
            user = session.get(User, device.user_id)
            assert user is not None
            core.audit.record(
                session,
                now,
                "device.pin-reset",
                actor="support",
                outcome="ok",
                user_id=user.id,
                username=user.username,
                device_id=device.id,
                detail={"kind": device.kind, "verification": verification_id},
            )
            return device_view(device)

    # -- devices -------------------------------------------------------------------------------

    def report(self, device_id: str, condition: str) -> DeviceView:
        """Record what happened to a device: it is revoked, and its reserve charged or released.

        ``lost``, ``stolen``, ``damaged`` and ``not-returned`` charge the reserve (the replacement
        fee); ``battery`` (a battery failure, never charged) and ``returned`` release it.

        Raises:
            NotFound: no such device.
            InvalidParameter: an unknown condition.
        """
        core = self._core
        if condition not in CONDITIONS:
            raise InvalidParameter(f"condition must be one of {', '.join(CONDITIONS)}")
        reserve_status = CONDITIONS[condition]
        now = core.clock.now()
        with core.db.write() as session:
            device = session.get(Device, device_id)
            if device is None:
                raise NotFound("no such device")
            device.condition = condition
            if device.status != "revoked":
                device.status = "revoked"
                device.revoked_at = now
            end_sessions(
                core, session, now, user_id=device.user_id, device_id=device_id, reason="device-reported"
            )
            held = update(Reserve).where(Reserve.device_id == device_id, Reserve.status == "held")
            settled = changed(session, held.values(status=reserve_status, settled_at=now))
            user = session.get(User, device.user_id)
            assert user is not None
            core.audit.record(
                session,
                now,
                "device.reported",
                actor="support",
                outcome="ok",
                user_id=user.id,
                username=user.username,
                device_id=device_id,
                detail={
                    "kind": device.kind,
                    "condition": condition,
                    "reserve": reserve_status if settled else "none",
                },
            )
            session.flush()
            return device_view(device)

    def revoke(self, device_id: str) -> DeviceView:
        """Revoke a device for good (lost, stolen, replaced).

        Raises:
            NotFound: no such device.
        """
        return self._device_action(device_id, "device.revoked", {"status": "revoked", "revoked_at": None})

    def unlock_device(self, device_id: str) -> DeviceView:
        """Clear a device's lockout and failure counters.

        Raises:
            NotFound: no such device.
        """
        return self._device_action(
            device_id, "device.unlocked", {"failures": 0, "lockouts": 0, "locked_until": None}
        )

    def _device_action(self, device_id: str, event: str, values: dict[str, object]) -> DeviceView:
        core = self._core
        now = core.clock.now()
        if "revoked_at" in values:
            values["revoked_at"] = now
        with core.db.write() as session:
            device = session.get(Device, device_id)
            if device is None:
                raise NotFound("no such device")
            changed(session, update(Device).where(Device.id == device_id).values(**values))
            user = session.get(User, device.user_id)
            assert user is not None
            if "revoked_at" in values:
                end_sessions(
                    core, session, now, user_id=user.id, device_id=device_id, reason="device-revoked"
                )
            core.audit.record(
                session,
                now,
                event,
                actor="support",
                outcome="ok",
                user_id=user.id,
                username=user.username,
                device_id=device_id,
                detail={"kind": device.kind, "serial": device.serial},
            )
            session.refresh(device)
            return device_view(device)
