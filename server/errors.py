"""The server's branch of the exception tree.

Each error carries a stable ``code`` (the string a client matches on) and, where waiting helps,
``retry_after`` in seconds. HTTP statuses are chosen in :mod:`tokensim.server.http.problems`, never here::

    TokensimError                        (tokensim.protocol.errors)
    ├── InvalidParameter                 invalid-request: a value is out of range or badly formed
    ├── VerificationError
    │   ├── InvalidCode                  wrong-answer
    │   │   └── WrongAnswer              wrong-answer, with attempts_remaining
    │   ├── ReplayedCode                 replayed-answer
    │   └── ExpiredChallenge             challenge-expired
    ├── DeviceError
    │   └── DeviceLocked                 device-locked (retry_after)
    └── ServerError
        ├── NotFound                     not-found
        ├── AlreadyExists                already-exists
        ├── Unauthorized                 unauthorized: no or a wrong bearer credential
        ├── InvalidCredentials           invalid-credentials: username or password wrong
        ├── TooManyAttempts              too-many-attempts: password checks paused (retry_after)
        ├── UnverifiedNumber             unverified-number: not one of the user's verified numbers
        ├── AccountLocked                account-locked: support must unlock
        ├── DeviceUnavailable            device-unavailable: not active, revoked or not the user's
        ├── LoginExpired                 login-expired
        ├── ChallengeClosed              challenge-closed: too many wrong answers to one challenge
        ├── PushPending                  push-pending: the phone has not answered yet (retry_after)
        ├── PushDenied                   push-denied
        ├── DeliveryFailed               delivery-failed: the carrier could not send a text or call
        ├── MasterKeyError               master-key: missing, wrong or unreadable master key
        ├── StorageUnavailable           storage-unavailable: a security record could not be written
        └── RuleRefused                  the Secure Login System rules refuse the request:
            ├── InsufficientScope        insufficient-scope: the session may not do this
            ├── NotPrimaryUser           not-primary-user: only the primary user changes security settings
            ├── OptOutNotAllowed         opt-out-not-allowed: the account's jurisdiction requires SLS
            ├── IpRestrictionsRequired   ip-restrictions-required: opted out without IP restrictions
            ├── IpRestricted             ip-restricted: a trading login from an address not allowed
            ├── SlsDeviceRequired        sls-device-required: the action needs an SLS device
            ├── TemporaryAccess          temporary-access: not with a temporary passcode
            ├── IdentityCheckRequired    identity-check-required: no recorded identity verification
            ├── ConsecutiveTemporary     consecutive-temporary-passcode: never two in a row
            ├── NotEligible              not-eligible: the account does not qualify for the device
            ├── SharingRefused           sharing-refused: a device-sharing condition does not hold
            ├── LimitExceeded            limit-exceeded: over a withdrawal limit (remaining amounts)
            └── AccountClosed            account-closed: the account is closed
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from tokensim.protocol.errors import InvalidCode, TokensimError

__all__ = [
    "AccountClosed",
    "AccountLocked",
    "AlreadyExists",
    "ChallengeClosed",
    "ConsecutiveTemporary",
    "DeliveryFailed",
    "DeviceUnavailable",
    "IdentityCheckRequired",
    "InsufficientScope",
    "InvalidCredentials",
    "IpRestricted",
    "IpRestrictionsRequired",
    "LimitExceeded",
    "LoginExpired",
    "MasterKeyError",
    "NotEligible",
    "NotFound",
    "NotPrimaryUser",
    "OptOutNotAllowed",
    "PushDenied",
    "PushPending",
    "RuleRefused",
    "ServerError",
    "SharingRefused",
    "SlsDeviceRequired",
    "StorageUnavailable",
    "TemporaryAccess",
    "TooManyAttempts",
    "Unauthorized",
    "UnverifiedNumber",
    "WrongAnswer",
]


class ServerError(TokensimError):
    """Root of the server's own errors.

    Attributes:
        code: the stable problem code clients match on.
        retry_after: seconds until trying again may succeed, or ``None``.
        extra: further facts for the client (JSON values, never a secret).
    """

    code: ClassVar[str] = "server-error"

    def __init__(
        self, message: str, *, retry_after: float | None = None, extra: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.extra: Mapping[str, Any] = dict(extra or {})


class NotFound(ServerError):
    """No such user, device, login, challenge or request (or not one the caller may see)."""

    code = "not-found"


class AlreadyExists(ServerError):
    """The username (or another unique value) is taken."""

    code = "already-exists"


class Unauthorized(ServerError):
    """The bearer credential is missing, wrong or expired.

    Attributes:
        presented: a credential came with the request (and is wrong or expired); ``False`` when
            there was none, so the 401's ``WWW-Authenticate`` carries no error code (RFC 6750 §3.1).
    """

    code = "unauthorized"

    def __init__(
        self,
        message: str,
        *,
        presented: bool = True,
        retry_after: float | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, retry_after=retry_after, extra=extra)
        self.presented = presented


class InvalidCredentials(ServerError):
    """The username or the password is wrong; which one is never said."""

    code = "invalid-credentials"


class TooManyAttempts(ServerError):
    """Password checks are paused after consecutive failures, or a new SMS code came too soon."""

    code = "too-many-attempts"


class UnverifiedNumber(ServerError):
    """The phone number is well formed but not one of the user's verified numbers."""

    code = "unverified-number"


class AccountLocked(ServerError):
    """The account reached its limit of consecutive second-factor failures; support unlocks it."""

    code = "account-locked"


class DeviceUnavailable(ServerError):
    """The device cannot be used now: not active yet, revoked, expired or not the user's."""

    code = "device-unavailable"


class LoginExpired(ServerError):
    """The login was started too long ago, or is finished; start again with the password."""

    code = "login-expired"


class ChallengeClosed(ServerError):
    """The challenge took its maximum of wrong answers; ask for a new one."""

    code = "challenge-closed"


class PushPending(ServerError):
    """The phone has not approved or denied the request yet."""

    code = "push-pending"


class PushDenied(ServerError):
    """The phone denied the request."""

    code = "push-denied"


class DeliveryFailed(ServerError):
    """The carrier could not deliver a text or a call; ask again, or choose voice or another device."""

    code = "delivery-failed"


class MasterKeyError(ServerError):
    """The master key is missing, malformed, or not the key this database was created with."""

    code = "master-key"


class StorageUnavailable(ServerError):
    """A failure counter or audit row could not be written (disk full, read-only database, ...).

    The attempt it belonged to is refused unchecked: a guess is never checked for free.
    """

    code = "storage-unavailable"


class RuleRefused(ServerError):
    """A Secure Login System rule refuses the request; the subclass's code says which."""

    code = "rule-refused"


class InsufficientScope(RuleRefused):
    """The session's scope does not cover the request (a card-printing or trading-only session)."""

    code = "insufficient-scope"


class NotPrimaryUser(RuleRefused):
    """Only the account's primary user changes security settings."""

    code = "not-primary-user"


class OptOutNotAllowed(RuleRefused):
    """The account's jurisdiction (Hong Kong, India) requires two-factor logins everywhere."""

    code = "opt-out-not-allowed"


class IpRestrictionsRequired(RuleRefused):
    """An opted-out account needs IP restrictions for penny-stock trading permission."""

    code = "ip-restrictions-required"


class IpRestricted(RuleRefused):
    """A trading-platform login from an address outside the account's IP restrictions."""

    code = "ip-restricted"


class SlsDeviceRequired(RuleRefused):
    """The action needs an active Secure Login System device (not SMS or a temporary passcode)."""

    code = "sls-device-required"


class TemporaryAccess(RuleRefused):
    """The action is not allowed in a session opened with a temporary passcode."""

    code = "temporary-access"


class IdentityCheckRequired(RuleRefused):
    """A temporary passcode needs a recorded, recent, unused identity verification."""

    code = "identity-check-required"


class ConsecutiveTemporary(RuleRefused):
    """Temporary passcodes are never issued twice in a row: reactivate a permanent device first."""

    code = "consecutive-temporary-passcode"


class NotEligible(RuleRefused):
    """The account does not qualify for the device (DSC+ below the equity threshold)."""

    code = "not-eligible"


class SharingRefused(RuleRefused):
    """A condition of device sharing does not hold (entity or identity, temporary devices, strength)."""

    code = "sharing-refused"


class LimitExceeded(RuleRefused):
    """The withdrawal is over the authorising device's limit; ``extra`` says what remains."""

    code = "limit-exceeded"


class AccountClosed(RuleRefused):
    """The account is closed: statements only."""

    code = "account-closed"


class WrongAnswer(InvalidCode):
    """A wrong second-factor answer, with how many more the device takes before it locks.

    Attributes:
        attempts_remaining: wrong answers left before the device locks.
    """

    code: ClassVar[str] = "wrong-answer"

    def __init__(self, message: str, *, attempts_remaining: int) -> None:
        super().__init__(message)
        self.attempts_remaining = attempts_remaining
