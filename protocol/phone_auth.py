"""How an IB Key phone proves it holds its registration key on every request it makes.

The phone lists its pending push requests and sends its decisions with an ``Authorization`` header
signed by the registration's ECDSA P-256 key (the one whose public key it sent at activation)::

    Authorization: IbKey registration=IBK1234567890, time=1798021253123, signature=MEUCIQ...

``time`` is the phone's clock in whole milliseconds since the Unix epoch; ``signature`` is the
ECDSA P-256 signature with SHA-256, DER-encoded, then base64url without padding, of the ASCII bytes
of :func:`request_signing_bytes`: five lines joined by a line feed (0x0A), no line feed at the end::

    tokensim-ib-key-request
    GET
    /v1/ib-key/IBK1234567890/requests
    IBK1234567890
    1798021253123

(the method in capitals, the request's path without query, the registration, the time). The server
takes a request only if the signature verifies with the registration's key, the time is within
:data:`REQUEST_WINDOW` seconds of its own clock, and the time is later than that of every request
it took from the registration before: a recorded request cannot be sent again.

Example:
    >>> auth = RequestAuth("IBK1", 1798021253123, b"\\x30\\x06\\x02\\x01\\x01\\x02\\x01\\x01")
    >>> auth.header()
    'IbKey registration=IBK1, time=1798021253123, signature=MAYCAQECAQE'
    >>> RequestAuth.parse(auth.header()) == auth
    True
    >>> request_signing_bytes("GET", "/v1/ib-key/IBK1/requests", "IBK1", 5)
    b'tokensim-ib-key-request\\nGET\\n/v1/ib-key/IBK1/requests\\nIBK1\\n5'
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from tokensim.protocol.errors import InvalidParameter

__all__ = [
    "AUTH_SCHEME",
    "DECISIONS_PATH",
    "REQUEST_WINDOW",
    "RequestAuth",
    "request_signing_bytes",
    "requests_path",
]

#: The ``Authorization`` scheme of a phone's signed request.
AUTH_SCHEME = "IbKey"
#: Where a phone sends its decisions.
DECISIONS_PATH = "/v1/ib-key/decisions"
#: Seconds a request's time may be before or after the server's clock.
REQUEST_WINDOW = 300.0
#: The first line of what a phone signs, so the signature serves for nothing else.
_CONTEXT = "tokensim-ib-key-request"

_REGISTRATION = r"[A-Za-z0-9._~-]{1,64}"
_HEADER = re.compile(
    rf"{AUTH_SCHEME} registration=(?P<registration>{_REGISTRATION}), ?"
    r"time=(?P<time>[0-9]{1,16}), ?signature=(?P<signature>[A-Za-z0-9_-]{1,200})"
)


def requests_path(registration: str) -> str:
    """The path where the phone of ``registration`` lists its pending push requests."""
    return f"/v1/ib-key/{registration}/requests"


def request_signing_bytes(method: str, path: str, registration: str, time_ms: int) -> bytes:
    """The exact bytes a phone signs for one request (see the module docstring).

    Raises:
        InvalidParameter: a part holds a line feed or is not ASCII, or the time is negative.
    """
    parts = (_CONTEXT, method.upper(), path, registration, str(time_ms))
    if time_ms < 0 or any("\n" in part or not part.isascii() for part in parts):
        raise InvalidParameter("request signing: parts must be ASCII without line feeds, time not negative")
    return "\n".join(parts).encode("ascii")


@dataclass(frozen=True, slots=True)
class RequestAuth:
    """A phone's signed request: its registration, its time, and the signature.

    Attributes:
        registration: the registration (key) id the server gave at activation.
        time_ms: the phone's clock, whole milliseconds since the Unix epoch.
        signature: ECDSA P-256 with SHA-256, DER, over :func:`request_signing_bytes`.
    """

    registration: str
    time_ms: int
    signature: bytes

    def header(self) -> str:
        """The ``Authorization`` header value."""
        encoded = base64.urlsafe_b64encode(self.signature).rstrip(b"=").decode("ascii")
        return f"{AUTH_SCHEME} registration={self.registration}, time={self.time_ms}, signature={encoded}"

    @classmethod
    def parse(cls, header: str) -> RequestAuth:
        """Read an ``Authorization`` header value.

        Raises:
            InvalidParameter: it is not an ``IbKey`` header of the documented form.
        """
        match = _HEADER.fullmatch(header.strip())
        if match is None:
            raise InvalidParameter(
                f"send 'Authorization: {AUTH_SCHEME} registration=<id>, time=<ms>, signature=<base64url>'"
            )
        text = match["signature"]
        try:
            signature = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError) as e:
            raise InvalidParameter("IbKey authorization: 'signature' is not base64url") from e
        return cls(match["registration"], int(match["time"]), signature)
