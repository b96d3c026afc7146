"""The logged-in user's own devices: requesting them, activating them, changing a DSC+ PIN.

* the online card, from a card-printing or portal session (so also when enrolling without IB Key);
* a DSC+ request (the balance threshold), the one physical kind still issued;
* activation and reactivation by answering a challenge (a card-printing session: the online card
  only);
* a DSC+ (Gold, Platinum) PIN change answered with the current PIN and then with the new one.

IB Key activates from its app instead (:mod:`.ib_key_activation`).
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session as DbSession

from tokensim.protocol.errors import InvalidParameter
from tokensim.protocol.provisioning import DeviceKind
from tokensim.server.callers import Caller, SessionOperations
from tokensim.server.challenges import Challenges
from tokensim.server.core import Core
from tokensim.server.device_rows import device_secrets, device_view
from tokensim.server.enrollment import PIN_FORMAT, DeviceEnrollment
from tokensim.server.errors import InsufficientScope, NotFound
from tokensim.server.rules import LEGACY_KINDS
from tokensim.server.storage.models import Challenge, Device, User
from tokensim.server.storage.prepared import changed
from tokensim.server.verify import DeviceSecrets
from tokensim.server.views import ChallengeView, DeviceView, Enrollment

__all__ = ["OwnDevices"]


class OwnDevices(SessionOperations):
    """A logged-in user's requests for devices, their activation and PIN changes.

    Args:
        core: the shared parts.
        challenges: issues and checks challenges.
        enrollment: enrolls the requested devices and activates them.
    """

    __slots__ = ("_enrollment",)

    def __init__(self, core: Core, challenges: Challenges, enrollment: DeviceEnrollment) -> None:
        super().__init__(core, challenges)
        self._enrollment = enrollment

    def request_online_card(self, token: str) -> Enrollment:
        """A new Online Security Code Card to print (an earlier one ends); activate it by answering.

        From a card-printing or portal session, so also when enrolling without IB Key.
        """
        caller = self.caller(token, needs=("portal", "card-printing"))
        core = self._core
        now = core.clock.now()
        with core.db.write() as session:
            changed(
                session,
                update(Device)
                .where(
                    Device.user_id == caller.user.id,
                    Device.kind == DeviceKind.ONLINE_SCC.value,
                    Device.status != "revoked",
                )
                .values(status="revoked", revoked_at=now),
            )
        return self._enrollment.enroll(caller.user.username, DeviceKind.ONLINE_SCC.value)

    def request_device(self, token: str, kind: str, *, pin: str | None = None) -> Enrollment:
        """Request a device to be mailed: the DSC+, the one physical kind still issued.

        It needs the balance threshold, and its reserve is held. The code card, DSC, Gold and
        Platinum are no longer issued (support may still enroll them, flagged legacy); IB Key
        activates from its app (:meth:`.ib_key_activation.IbKeyActivations.instant_ib_key_activation`).

        Raises:
            InvalidParameter: a kind that is not requested this way, or a bad PIN.
            NotEligible: a DSC+ below ``dsc_plus_min_equity_usd``.
        """
        if kind in LEGACY_KINDS:
            raise InvalidParameter(f"a {kind} is no longer issued; request a dsc-plus or activate IB Key")
        if kind != DeviceKind.DSC_PLUS.value:
            raise InvalidParameter("request a dsc-plus; IB Key activates from its app")
        caller = self.caller(token)
        self._not_temporary(caller)
        return self._enrollment.enroll(caller.user.username, kind, pin=pin, check_eligibility=True)

    def _own_device(self, caller: Caller, device_id: str) -> Device:
        with self._core.db.read() as session:
            device = session.get(Device, device_id)
        if device is None or device.user_id != caller.user.id:
            raise NotFound("no such device")
        return device

    def start_activation(self, token: str, device_id: str, *, mode: str | None = None) -> ChallengeView:
        """Activate or reactivate one of the user's devices: the challenge it must answer.

        A card-printing session activates only an online card.
        """
        caller = self.caller(token, needs=("portal", "card-printing"))
        device = self._own_device(caller, device_id)
        if "portal" not in caller.scope and device.kind != DeviceKind.ONLINE_SCC.value:
            raise InsufficientScope("a card-printing session only activates the online card")
        return self._enrollment.start_activation(device_id, mode=mode)

    def finish_activation(self, token: str, device_id: str, challenge_id: str, answer: str) -> DeviceView:
        """Answer the activation challenge; reactivating a permanent device ends temporary access."""
        caller = self.caller(token, needs=("portal", "card-printing"))
        device = self._own_device(caller, device_id)
        if "portal" not in caller.scope and device.kind != DeviceKind.ONLINE_SCC.value:
            raise InsufficientScope("a card-printing session only activates the online card")
        return self._enrollment.finish_activation(device_id, challenge_id, answer)

    def start_pin_change(self, token: str, device_id: str, new_pin: str) -> ChallengeView:
        """Start a PIN change (DSC+, Gold, Platinum): a challenge the device answers with its current PIN.

        The right answer (:meth:`confirm_current_pin`) opens a second challenge, answered with the new
        PIN (:meth:`finish_pin_change`). A user who does not know the current PIN calls support, who
        resets it after an identity check (:meth:`.support.Support.reset_pin`).

        Raises:
            InvalidParameter: the PIN is not 4 digits, or the device folds no PIN into its answers.
        """
        if not PIN_FORMAT.fullmatch(new_pin):
            raise InvalidParameter("a PIN has 4 digits")
        caller = self.caller(token)
        self._not_temporary(caller)
        device = self._own_device(caller, device_id)
        secrets = device_secrets(self._core, device)
        if secrets.pin is None:
            raise InvalidParameter(f"a {device.kind} has no PIN the server checks")
        sealed = DeviceSecrets(secret=secrets.secret, totp_secret=secrets.totp_secret, pin=new_pin)
        view = self._challenges.issue(device_id, purpose="pin-current").view
        core = self._core
        with core.db.write() as session:
            following = core.keys.seal(sealed.to_bytes(), "challenges", view.id, "next_sealed")
            changed(session, update(Challenge).where(Challenge.id == view.id).values(next_sealed=following))
        return view

    def confirm_current_pin(
        self, token: str, device_id: str, challenge_id: str, answer: str
    ) -> ChallengeView:
        """Answer with the current PIN; returns the challenge to answer with the new PIN.

        Raises:
            NotFound: no such PIN change of this user and device.
            WrongAnswer, ReplayedCode, ExpiredChallenge, ...: as for any answer.
        """
        caller = self.caller(token)
        self._not_temporary(caller)
        self._own_challenge(challenge_id, caller, "pin-current")
        core = self._core

        def complete(
            session: DbSession, challenge: Challenge, device: Device, _u: User, _now: float
        ) -> bytes:
            if device.id != device_id or challenge.next_sealed is None:
                raise NotFound("no such challenge for this device")
            return core.keys.open(challenge.next_sealed, "challenges", challenge.id, "next_sealed")

        raw = self._challenges.answer(challenge_id, answer, purpose="pin-current", complete=complete)
        return self._challenges.issue(
            device_id, purpose="pin-change", sealed=DeviceSecrets.from_bytes(raw)
        ).view

    def finish_pin_change(self, token: str, device_id: str, challenge_id: str, answer: str) -> DeviceView:
        """Answer the second challenge with the new PIN; from now on the device's answers use it."""
        caller = self.caller(token)
        self._own_challenge(challenge_id, caller, "pin-change")
        core = self._core

        def complete(
            session: DbSession, challenge: Challenge, device: Device, user: User, now: float
        ) -> DeviceView:
            if device.id != device_id or challenge.sealed is None:
                raise NotFound("no such challenge for this device")
            new = core.keys.open(challenge.sealed, "challenges", challenge.id, "sealed")
            sealed = core.keys.seal(new, "devices", device.id, "secrets")
            changed(session, update(Device).where(Device.id == device.id).values(secrets=sealed))
            core.audit.record(
                session,
                now,
                "device.pin-changed",
                actor="user",
                outcome="ok",
                user_id=user.id,
                username=user.username,
                device_id=device.id,
                detail={"kind": device.kind},
            )
            return device_view(device)

        return self._challenges.answer(challenge_id, answer, purpose="pin-change", complete=complete)
