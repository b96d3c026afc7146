"""The one exception tree of tokensim.

Every error the project raises on purpose derives from :class:`TokensimError`, so a caller can catch
the whole family at once and a layer can add its own branch without touching the others::

    TokensimError
    ├── InvalidParameter            a value is out of range or badly formed (ValueError too)
    │   ├── InvalidSuite            an OCRA suite string does not follow RFC 6287 §6
    │   └── InvalidDocument         a PSKC file or otpauth URI is malformed, tampered or undecryptable
    ├── VerificationError           an answer was checked and refused
    │   ├── InvalidCode             the code, response or card answer is wrong
    │   ├── ReplayedCode            the answer was right but has been used already
    │   └── ExpiredChallenge        the challenge ran out before it was answered
    ├── DeviceError                 an emulated or physical device refused an action
    │   ├── InvalidPin              wrong PIN; carries ``attempts_remaining``
    │   └── DeviceLocked            too many wrong PINs or a lockout; carries ``retry_after``
    ├── FramingError                a byte stream could not be turned into a frame
    │   ├── FrameTooLarge           more than MAX_FRAME bytes arrived before a delimiter
    │   ├── CorruptFrame            COBS decoding or the CRC-16 failed
    │   └── UnsupportedVersion      the frame's version byte is not one we speak
    └── TransportError              a serial port or socket failed (unplugged, busy, timed out)
        └── TransportTimeout        no answer within the read timeout

Other layers hang their own branches on the same root, each defined beside the code that raises it:

=====================================  ==================  ==========================================
error                                  under               raised when
=====================================  ==================  ==========================================
``protocol.wire.MalformedMessage``     FramingError        a frame's payload breaks its command layout
``protocol.wire.BoardRefused``         DeviceError         a board answered with an ERROR frame
``emulators.bridge.IncompatibleBoard`` TransportError      a board speaks another major protocol version
``emulators.registry.RegistryError``   TokensimError       a device module fails to import or repeats a kind
``emulators.keypad.BackendError``      TokensimError       the keypad's server backend failed
``server.errors.ServerError``          TokensimError       a server rule refused a request (tree drawn there)
``server.client.ProblemError``         TokensimError       the HTTP API answered with a problem detail
=====================================  ==================  ==========================================

HTTP status codes belong to the web layer (``tokensim.server``); nothing here knows about them.
"""

from __future__ import annotations

__all__ = [
    "CorruptFrame",
    "DeviceError",
    "DeviceLocked",
    "ExpiredChallenge",
    "FrameTooLarge",
    "FramingError",
    "InvalidCode",
    "InvalidDocument",
    "InvalidParameter",
    "InvalidPin",
    "InvalidSuite",
    "ReplayedCode",
    "TokensimError",
    "TransportError",
    "TransportTimeout",
    "UnsupportedVersion",
    "VerificationError",
]


class TokensimError(Exception):
    """Root of every error tokensim raises on purpose."""


class InvalidParameter(TokensimError, ValueError):
    """A parameter is out of range or badly formed."""


class InvalidSuite(InvalidParameter):
    """An OCRA suite string does not follow the grammar of RFC 6287 §6.

    Attributes:
        suite: the string that was refused.
        part: the part of it that is wrong (for example ``"HOTP-SHA3-6"``).
    """

    def __init__(self, suite: str, part: str, reason: str) -> None:
        super().__init__(f"invalid OCRA suite {suite!r}: {part!r} {reason}")
        self.suite = suite
        self.part = part


class InvalidDocument(InvalidParameter):
    """A key file or key URI is malformed, was tampered with, or cannot be decrypted with the key given."""


class VerificationError(TokensimError):
    """An answer was checked and refused."""


class InvalidCode(VerificationError):
    """The code, response or card answer does not match."""


class ReplayedCode(VerificationError):
    """The answer matched, but it (or its time step or challenge) has been used before."""


class ExpiredChallenge(VerificationError):
    """The challenge expired before it was answered."""


class DeviceError(TokensimError):
    """A device refused an action."""


class InvalidPin(DeviceError):
    """A wrong PIN was entered.

    Attributes:
        attempts_remaining: how many more wrong PINs the device accepts before it locks.
    """

    def __init__(self, attempts_remaining: int) -> None:
        super().__init__(f"wrong PIN, {attempts_remaining} attempt(s) left before the device locks")
        self.attempts_remaining = attempts_remaining


class DeviceLocked(DeviceError):
    """The device is locked.

    Attributes:
        retry_after: seconds until it unlocks by itself, or ``None`` if only a reset unlocks it.
    """

    def __init__(self, message: str = "device locked", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FramingError(TokensimError):
    """Bytes from a stream could not be turned into a valid frame."""


class FrameTooLarge(FramingError):
    """A frame exceeded the maximum size before its delimiter arrived."""


class CorruptFrame(FramingError):
    """A frame failed COBS decoding, its length field or its CRC-16."""


class UnsupportedVersion(FramingError):
    """A frame carried a protocol version this side does not speak.

    Attributes:
        version: the version byte that was received.
    """

    def __init__(self, version: int) -> None:
        super().__init__(f"unsupported frame version {version}")
        self.version = version


class TransportError(TokensimError):
    """A serial port, pseudo-terminal or socket failed: unplugged, busy, closed."""


class TransportTimeout(TransportError):
    """No answer arrived within the read timeout."""
