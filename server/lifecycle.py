"""What happens around a device's life, inside the caller's write transaction.

* A permanent device that is **reactivated** (it was put back to ``pending`` when a temporary
  passcode was issued) or a **replacement** that is activated ends every temporary device of the
  user (the temporary passcode and the online card) and allows the next temporary passcode.
* A replacement not activated within ``replacement_activation_window`` becomes active by itself
  (:func:`promote_due`, run when the user logs in or support reads the user).
* Issuing a device that is mailed out holds a reserve (:func:`hold_reserve`), charged or released
  later by support reports.

It also holds the password check shared by the flows that start from a username and password
without a login (IB Key migration and recovery, sharing a device).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tokensim.server.core import Core
from tokensim.server.db import changed
from tokensim.server.models import Device, DeviceShare, Reserve, User
from tokensim.server.rules import TEMPORARY_KINDS
from tokensim.server.throttle import verify_password
from tokensim.server.verify import policy_for

__all__ = [
    "check_password",
    "end_temporary_access",
    "hold_reserve",
    "is_usable_by",
    "on_activated",
    "promote_due",
    "usable_devices",
]

_log = logging.getLogger(__name__)


def end_temporary_access(core: Core, session: Session, user: User, now: float, *, reason: str) -> int:
    """Revoke the user's temporary passcodes and online cards; return how many ended."""
    rows = list(
        session.scalars(
            select(Device).where(
                Device.user_id == user.id,
                Device.kind.in_(TEMPORARY_KINDS),
                Device.status != "revoked",
            )
        )
    )
    for device in rows:
        changed(
            session, update(Device).where(Device.id == device.id).values(status="revoked", revoked_at=now)
        )
        core.audit.record(
            session,
            now,
            "device.revoked",
            actor="system",
            outcome="ok",
            user_id=user.id,
            username=user.username,
            device_id=device.id,
            detail={"kind": device.kind, "reason": reason},
        )
    return len(rows)


def on_activated(core: Core, session: Session, device: Device, user: User, now: float) -> None:
    """Apply the rules of an activation that just happened (the device row as it was before)."""
    if not policy_for(device.kind).permanent:
        return
    if device.deactivated_at is None and device.replaces is None:
        return  # a first activation of a new device leaves temporary access alone
    end_temporary_access(core, session, user, now, reason="permanent device reactivated")
    changed(session, update(User).where(User.id == user.id).values(last_reactivated_at=now))
    changed(session, update(Device).where(Device.id == device.id).values(deactivated_at=None))


def promote_due(core: Core, session: Session, user: User, now: float) -> None:
    """Make the user's replacement devices whose activation window ended active by themselves."""
    due = list(
        session.scalars(
            select(Device).where(
                Device.user_id == user.id,
                Device.status == "pending",
                Device.activate_by.is_not(None),
                Device.activate_by <= now,
            )
        )
    )
    for device in due:
        assert device.activate_by is not None
        pending = update(Device).where(Device.id == device.id, Device.status == "pending")
        changed(session, pending.values(status="active", activated_at=device.activate_by))
        core.audit.record(
            session,
            now,
            "device.activated",
            actor="system",
            outcome="ok",
            user_id=user.id,
            username=user.username,
            device_id=device.id,
            detail={"kind": device.kind, "serial": device.serial, "reason": "activation window ended"},
        )
        on_activated(core, session, device, user, now)


def hold_reserve(core: Core, session: Session, device: Device, now: float) -> Decimal:
    """Hold the reserve of a newly issued device (nothing for kinds without one); return the amount."""
    amount = core.config.device_reserves_usd.get(device.kind, Decimal(0))
    if amount > 0:
        session.add(
            Reserve(
                device_id=device.id,
                user_id=device.user_id,
                amount_usd=amount,
                status="held",
                created_at=now,
            )
        )
    return amount


def usable_devices(session: Session, user_id: str, now: float) -> list[tuple[Device, str | None]]:
    """The user's active, unexpired devices and the ones shared with them (with the owner's username)."""
    own = session.scalars(
        select(Device).where(Device.user_id == user_id, Device.status == "active").order_by(Device.created_at)
    )
    shared = session.execute(
        select(Device, User.username)
        .join(DeviceShare, DeviceShare.device_id == Device.id)
        .join(User, User.id == Device.user_id)
        .where(DeviceShare.user_id == user_id, Device.status == "active")
        .order_by(Device.created_at)
    ).all()
    found: list[tuple[Device, str | None]] = [(d, None) for d in own]
    found.extend((device, owner) for device, owner in shared)
    return [(d, owner) for d, owner in found if d.expires_at is None or d.expires_at > now]


def is_usable_by(session: Session, device: Device, user_id: str) -> bool:
    """Whether ``user_id`` owns ``device`` or has it shared with them."""
    if device.user_id == user_id:
        return True
    share = session.get(DeviceShare, (device.id, user_id))
    return share is not None


def check_password(core: Core, username: str, password: str, *, event: str) -> User:
    """Check a username and password outside a login, throttled and audited like a login.

    Raises:
        InvalidCredentials: unknown username or wrong password (never said which).
        TooManyAttempts: password checks are paused (see :func:`throttle.verify_password`).
        AccountLocked: the account is locked.
        StorageUnavailable: the attempt could not be recorded, so it was not checked.
    """
    user, keys = verify_password(core, username, password, event=event, detail={"reason": "password"})
    with core.db.write() as session:
        core.throttle.password_succeeded(session, keys)
    core.throttle.check_account(user)
    return user
