"""The server's branch of the exception tree.

Each error carries a stable ``code`` (the string a client matches on) and, where waiting helps,
``retry_after`` in seconds. HTTP statuses are chosen in :mod:`tokensim.server.problems`, never here::

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
        ├── AccountLocked                account-locked: support must unlock
        ├── DeviceUnavailable            device-unavailable: not active, revoked or not the user's
        ├── LoginExpired                 login-expired
        ├── ChallengeClosed              challenge-closed: too many wrong answers to one challenge
        ├── PushPending                  push-pending: the phone has not answered yet (retry_after)
        ├── PushDenied                   push-denied
        ├── DeliveryFailed               delivery-failed: the carrier could not send a text or call
        └── MasterKeyError               master-key: missing, wrong or unreadable master key
"""

from __future__ import annotations

from typing import ClassVar

from tokensim.protocol.errors import InvalidCode, TokensimError

__all__ = [
    "AccountLocked",
    "AlreadyExists",
    "ChallengeClosed",
    "DeliveryFailed",
    "DeviceUnavailable",
    "InvalidCredentials",
    "LoginExpired",
    "MasterKeyError",
    "NotFound",
    "PushDenied",
    "PushPending",
    "ServerError",
    "TooManyAttempts",
    "Unauthorized",
    "WrongAnswer",
]


class ServerError(TokensimError):
    """Root of the server's own errors.

    Attributes:
        code: the stable problem code clients match on.
        retry_after: seconds until trying again may succeed, or ``None``.
    """

    code: ClassVar[str] = "server-error"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFound(ServerError):
    """No such user, device, login, challenge or request (or not one the caller may see)."""

    code = "not-found"


class AlreadyExists(ServerError):
    """The username (or another unique value) is taken."""

    code = "already-exists"


class Unauthorized(ServerError):
    """The bearer credential is missing, wrong or expired."""

    code = "unauthorized"


class InvalidCredentials(ServerError):
    """The username or the password is wrong; which one is never said."""

    code = "invalid-credentials"


class TooManyAttempts(ServerError):
    """Password checks for this user are paused after consecutive failures."""

    code = "too-many-attempts"


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


class WrongAnswer(InvalidCode):
    """A wrong second-factor answer, with how many more the device takes before it locks.

    Attributes:
        attempts_remaining: wrong answers left before the device locks.
    """

    code: ClassVar[str] = "wrong-answer"

    def __init__(self, message: str, *, attempts_remaining: int) -> None:
        super().__init__(message)
        self.attempts_remaining = attempts_remaining
