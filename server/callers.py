"""The user behind a session token, and the step-up challenges their money and changes are answered with.

:class:`SessionOperations` is the base of the logged-in user's operations (:mod:`.money`,
:mod:`.security`, :mod:`.sharing`, :mod:`.own_devices`): it reads a token's session as a
:class:`Caller` and holds the checks they share (not a temporary passcode, the primary user, the
caller's own challenge). :class:`Callers` issues the fresh challenge a withdrawal, a change of bank
instructions or a change of email is answered with (:data:`ACTIONS`).

A session opened with a temporary passcode cannot move money or change information.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tokensim.protocol.errors import InvalidParameter
from tokensim.server.challenges import Challenges
from tokensim.server.core import Core
from tokensim.server.errors import (
    DeviceUnavailable,
    InsufficientScope,
    NotFound,
    NotPrimaryUser,
    SlsDeviceRequired,
    TemporaryAccess,
)
from tokensim.server.lifecycle import is_usable_by
from tokensim.server.login import current_session
from tokensim.server.rules import MONEY_KINDS, SLS_KINDS
from tokensim.server.storage.models import Challenge, Device, User
from tokensim.server.verify import TEMPORARY_KIND
from tokensim.server.views import ChallengeView

__all__ = ["ACTIONS", "Caller", "Callers", "SessionOperations"]

#: What a step-up answer is asked for (the challenge's purpose), and which device kinds may give it.
ACTIONS = {"withdrawal": MONEY_KINDS, "bank": SLS_KINDS, "email": SLS_KINDS}


@dataclass(frozen=True, slots=True)
class Caller:
    """The user behind a session token.

    Attributes:
        user: the user row (as read at the start of the call).
        scope: what the session may do.
        device_kind: the kind of the device the login used (``None`` without one).
    """

    user: User
    scope: tuple[str, ...]
    device_kind: str | None


class SessionOperations:
    """What every operation of a logged-in user starts from: the caller of a session token.

    Args:
        core: the shared parts.
        challenges: issues and checks challenges.
    """

    __slots__ = ("_challenges", "_core")

    def __init__(self, core: Core, challenges: Challenges) -> None:
        self._core = core
        self._challenges = challenges

    def caller(self, token: str, *, needs: Sequence[str] = ("portal",)) -> Caller:
        """The user of a session whose scope holds one of ``needs``.

        Raises:
            Unauthorized: unknown, ended or expired token.
            InsufficientScope: the scope holds none of ``needs``.
        """
        # One read of the session, its user and device, checked against their current state.
        current = current_session(self._core, token)
        scope = current.scope
        if not set(needs) & set(scope):
            raise InsufficientScope(f"this session may do {', '.join(scope) or 'nothing'}; not this")
        return Caller(current.user, scope, None if current.device is None else current.device.kind)

    def _not_temporary(self, caller: Caller) -> None:
        if caller.device_kind == TEMPORARY_KIND:
            raise TemporaryAccess(
                "not with a temporary passcode: print the online card or reactivate your device first"
            )

    def _primary(self, caller: Caller) -> None:
        if not caller.user.primary_user:
            raise NotPrimaryUser("only the account's primary user changes security settings")

    def _own_challenge(self, challenge_id: str, caller: Caller, purpose: str) -> Challenge:
        with self._core.db.read() as session:
            challenge = session.get(Challenge, challenge_id)
        if challenge is None or challenge.user_id != caller.user.id or challenge.purpose != purpose:
            raise NotFound("no such challenge")
        return challenge


class Callers(SessionOperations):
    """The caller of a session token, and the step-up challenges of withdrawals and account changes."""

    __slots__ = ()

    def step_up(self, token: str, device_id: str, action: str, *, mode: str | None = None) -> ChallengeView:
        """A fresh challenge for ``action`` (``withdrawal``, ``bank`` or ``email``) on a chosen device.

        Raises:
            InvalidParameter: an unknown action or mode.
            TemporaryAccess: the session came from a temporary passcode.
            DeviceUnavailable: not one of the user's (or shared with them) active devices.
            SlsDeviceRequired: the device's kind cannot authorise the action.
        """
        kinds = ACTIONS.get(action)
        if kinds is None:
            raise InvalidParameter(f"action must be one of {', '.join(ACTIONS)}")
        caller = self.caller(token)
        self._not_temporary(caller)
        with self._core.db.read() as session:
            device = session.get(Device, device_id)
            usable = device is not None and is_usable_by(session, device, caller.user.id)
        if device is None or not usable:
            raise DeviceUnavailable("not one of this user's devices")
        if device.kind not in kinds:
            raise SlsDeviceRequired(f"a {device.kind} cannot authorise a {action} change")
        return self._challenges.issue(device_id, purpose=action, mode=mode, user_id=caller.user.id).view
