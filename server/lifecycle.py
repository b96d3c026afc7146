"""What happens around a device's life, inside the caller's write transaction.

* A permanent device that is **activated** ends every temporary device of the user (the temporary
  passcode and the online card): a first device of a new account, a device **reactivated** after a
  temporary passcode put it back to ``pending``, or a **replacement**. SMS ends them only when it is
  reactivated (a first SMS number is no permanent device to wait for).
* Only a **physical** security device (code card, DSC, DSC+, Gold, Platinum) that becomes active
  allows the next temporary passcode: "as a matter of policy" there are no consecutive temporary
  passcodes, protection is restored by a physical device.
* A mailed device (new or replacement) not activated within ``replacement_activation_window``
  becomes active by itself (:func:`promote_due`, run when the user logs in or support reads the user).
* Funding an account (:func:`mark_funded`) starts the 21 days of the online cards it holds.
* A closed account's devices that are not returned within ``device_return_window`` have their
  device fee charged (:func:`charge_unreturned`, run when support reads the user).
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

from tokensim.protocol.errors import ReplayedCode
from tokensim.protocol.provisioning import DeviceKind
from tokensim.server.config import ServerConfig
from tokensim.server.core import Core
from tokensim.server.rules import PHYSICAL_KINDS, TEMPORARY_KINDS, temporary_stage
from tokensim.server.storage.models import Device, DeviceShare, Reserve, User
from tokensim.server.storage.prepared import changed
from tokensim.server.throttle import verify_password
from tokensim.server.verify import TEMPORARY_KIND, policy_for
from tokensim.server.views import TemporaryStage

__all__ = [
    "activate",
    "charge_unreturned",
    "check_password",
    "end_temporary_access",
    "hold_reserve",
    "is_usable_by",
    "login_devices",
    "mark_funded",
    "on_activated",
    "promote_due",
    "reactivatable",
    "temporary_stages",
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


def activate(core: Core, session: Session, device: Device, user: User, now: float, *, actor: str) -> None:
    """Make a pending device active and apply :func:`on_activated`, in the caller's transaction.

    Raises:
        ReplayedCode: the device is no longer pending (activated by another answer a moment ago).
    """
    pending = update(Device).where(Device.id == device.id, Device.status == "pending")
    if changed(session, pending.values(status="active", activated_at=now)) != 1:
        raise ReplayedCode("the device was activated already")
    reactivated = device.deactivated_at is not None or device.replaces is not None
    core.audit.record(
        session,
        now,
        "device.activated",
        actor=actor,
        outcome="ok",
        user_id=user.id,
        username=user.username,
        device_id=device.id,
        detail={"kind": device.kind, "serial": device.serial}
        | ({"reactivation": True} if reactivated else {}),
    )
    on_activated(core, session, device, user, now)


def on_activated(core: Core, session: Session, device: Device, user: User, now: float) -> None:
    """Apply the rules of an activation that just happened (the device row as it was before)."""
    if not policy_for(device.kind).permanent:
        return
    changed(
        session,
        update(Device).where(Device.id == device.id).values(deactivated_at=None, activate_by=None),
    )
    first = device.deactivated_at is None and device.replaces is None
    if not (first and device.kind == DeviceKind.PHONE.value):
        reason = "permanent device activated" if first else "permanent device reactivated"
        end_temporary_access(core, session, user, now, reason=reason)
    if device.kind in PHYSICAL_KINDS:
        changed(session, update(User).where(User.id == user.id).values(last_reactivated_at=now))


def mark_funded(core: Core, session: Session, user: User, now: float, *, actor: str) -> bool:
    """Record that the account received funds (once); its online cards last from now.

    Returns:
        Whether this call funded the account (``False`` when it was funded already).
    """
    if user.funded_at is not None:
        return False
    funded = update(User).where(User.id == user.id, User.funded_at.is_(None))
    if changed(session, funded.values(funded_at=now)) != 1:
        return False
    changed(
        session,
        update(Device)
        .where(
            Device.user_id == user.id,
            Device.kind == DeviceKind.ONLINE_SCC.value,
            Device.status != "revoked",
            Device.expires_at.is_(None),
        )
        .values(expires_at=now + core.config.online_card_ttl),
    )
    core.audit.record(
        session, now, "account.funded", actor=actor, outcome="ok", user_id=user.id, username=user.username
    )
    return True


def promote_due(core: Core, session: Session, user: User, now: float) -> None:
    """Make the user's mailed devices whose activation window ended active by themselves."""
    due = list(
        session.scalars(
            select(Device).where(
                Device.user_id == user.id,
                Device.status == "pending",
                Device.activate_by.is_not(None),
                Device.activate_by <= now,
                Device.deactivated_at.is_(None),  # a misplaced device reactivates by its answer only
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


def charge_unreturned(core: Core, session: Session, user: User, now: float) -> int:
    """Charge the fee of each device of a closed account not returned within the window; return how many."""
    if user.closed_at is None or now < user.closed_at + core.config.device_return_window:
        return 0
    held = list(session.scalars(select(Reserve).where(Reserve.user_id == user.id, Reserve.status == "held")))
    for reserve in held:
        settle = update(Reserve).where(Reserve.device_id == reserve.device_id, Reserve.status == "held")
        if changed(session, settle.values(status="charged", settled_at=now)) != 1:
            continue
        changed(
            session,
            update(Device)
            .where(Device.id == reserve.device_id)
            .values(condition="not-returned", status="revoked", revoked_at=now),
        )
        core.audit.record(
            session,
            now,
            "device.reported",
            actor="system",
            outcome="ok",
            user_id=user.id,
            username=user.username,
            device_id=reserve.device_id,
            detail={"condition": "not-returned", "reserve": "charged", "reason": "account closed"},
        )
    return len(held)


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


def reactivatable(device: Device) -> bool:
    """Whether a login may reactivate ``device`` by its answer.

    A permanent device waiting to be reactivated: put back to ``pending`` by a temporary passcode,
    or a replacement not yet activated (an IB Key replacement activates by its app instead).
    """
    if device.status != "pending" or not policy_for(device.kind).permanent:
        return False
    if device.deactivated_at is not None:
        return True
    return device.replaces is not None and device.kind != DeviceKind.IB_KEY.value


def login_devices(session: Session, user_id: str, now: float) -> list[tuple[Device, str | None]]:
    """What a login offers: :func:`usable_devices`, then the user's :func:`reactivatable` devices."""
    waiting = session.scalars(
        select(Device)
        .where(Device.user_id == user_id, Device.status == "pending")
        .order_by(Device.created_at)
    )
    return usable_devices(session, user_id, now) + [(d, None) for d in waiting if reactivatable(d)]


def temporary_stages(
    session: Session, user_id: str, now: float, config: ServerConfig
) -> tuple[TemporaryStage, ...]:
    """The stages of the user's temporary passcodes and online cards that were not revoked."""
    rows = session.scalars(
        select(Device)
        .where(Device.user_id == user_id, Device.kind.in_(TEMPORARY_KINDS), Device.status != "revoked")
        .order_by(Device.created_at)
    )
    stages = []
    for device in rows:
        ends: float | None = None
        if device.kind == TEMPORARY_KIND:
            stage = temporary_stage(device.issued_at, now, config)
            full_until = device.issued_at + config.temporary_full_access
            printing_until = full_until + config.temporary_card_printing
            ends = {"full": full_until, "card-printing": printing_until}.get(stage)
        elif device.status == "pending":
            stage = "pending"
        elif device.expires_at is not None and device.expires_at <= now:
            stage = "expired"
        else:
            stage, ends = "full", device.expires_at
        stages.append(TemporaryStage(device.id, device.kind, stage, ends, device.expires_at))
    return tuple(stages)


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
