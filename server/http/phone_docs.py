"""What a phone needs to act as IB Key: the OpenAPI texts of the ``/v1/ib-key`` routes and their scheme.

The texts here are the contract any language follows to be the phone (docs/developer.md says the
same with an example): the key format at activation, the signed ``Authorization`` header of every
phone request (:mod:`tokensim.protocol.phone_auth`), the bytes a decision signs
(:meth:`tokensim.protocol.messages.PushRequest.signing_bytes`) and the QR payload
(:func:`tokensim.protocol.messages.qr_payload`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Security
from fastapi.security import APIKeyHeader

from tokensim.protocol.phone_auth import REQUEST_WINDOW

__all__ = [
    "IB_KEY_ACTIVATION_DOC",
    "IB_KEY_DECISIONS_DOC",
    "IB_KEY_REFUSED",
    "IB_KEY_REQUESTS_DOC",
    "REQUEST_AUTH_DOC",
    "IbKeyAuthDep",
]

#: The ``Authorization`` header of a phone request, as its OpenAPI security scheme says.
REQUEST_AUTH_DOC = f"""\
Every request of the phone to list its push requests or send a decision carries

    Authorization: IbKey registration=<registration>, time=<ms>, signature=<signature>

* `registration`: the registration id (`serial` of the activation reply);
* `time`: the phone's clock, whole milliseconds since the Unix epoch, in decimal;
* `signature`: ECDSA over curve P-256 (secp256r1) with SHA-256, by the registration's private key,
  DER-encoded (an ASN.1 SEQUENCE of the integers r and s, not the raw 64 bytes), then base64url
  (RFC 4648 section 5) without `=` padding, of the ASCII bytes of five lines joined by one line
  feed (0x0A), with no line feed at the end:

      tokensim-ib-key-request
      <method, in capitals: GET or POST>
      <path, without query: /v1/ib-key/<registration>/requests or /v1/ib-key/decisions>
      <registration>
      <time, the same decimal digits as in the header>

The server refuses the request (401 `unauthorized`, nothing counted, no push closed) when the
header is missing or malformed, the registration is unknown or not active, the signature does not
verify with the public key sent at activation, `time` is more than {REQUEST_WINDOW:.0f} s away from the
server's clock, or `time` is not later than that of a request the server already took from this
registration (so a recorded request cannot be sent again: each request needs a new, larger time).
"""

IB_KEY_ACTIVATION_DOC = """\
Activate an IB Key registration with the token texted to the user's phone.

The phone creates an ECDSA P-256 (secp256r1) key pair for the registration and sends
`{"username", "token", "public_key", "device_name"}`: `token` is the 6-digit code of the SMS,
`public_key` the public key as a PEM `PUBLIC KEY` block (X.509 SubjectPublicKeyInfo, DER, base64
with `-----BEGIN PUBLIC KEY-----` / `-----END PUBLIC KEY-----` lines), `device_name` the phone's
name (at most 64 characters).

The reply (201) is the registration's provisioning: `serial` is the registration id (the
`registration` of every signed request and the `key_id` of every decision); `secret` (hex) is the
OCRA key of `suite` (challenge/response, RFC 6287); `totp_secret` (hex), `digits`, `step` and
`algorithm` are the time-based code's parameters (RFC 6238). A new activation of the same
registration replaces its key and starts its request times afresh.
"""

IB_KEY_REQUESTS_DOC = f"""\
The push requests waiting for this registration's decision, oldest first:
`{{"requests": [{{"id", "username", "action", "origin", "nonce", "expires_at", "details"}}, ...]}}`.

{REQUEST_AUTH_DOC}"""

IB_KEY_DECISIONS_DOC = f"""\
The phone's approval or denial of a push or QR request:
`{{"request_id", "approved", "signature", "key_id"}}`, where `key_id` is the registration id and
`signature` is ECDSA P-256 with SHA-256, DER-encoded, base64url without padding, over these bytes:

the request's JSON object (the one listed by `GET /v1/ib-key/{{registration}}/requests`, or decoded
from the QR payload) with one more member `"decision": "approve"` or `"decision": "deny"`, written
as canonical JSON: members sorted by name at every level (by Unicode code point), no white space
(`,` and `:` only), strings with `"` `\\` escaped and every other character outside printable ASCII as
`\\uXXXX` with lowercase hex (`\\n`, `\\r`, `\\t`, `\\b`, `\\f` for those controls; UTF-16
surrogate pairs above U+FFFF), `expires_at` as the shortest decimal that reads back as the same
IEEE-754 double, with `.0` when it is whole (for example `1798021253.0`, `1798021253.25`); the
bytes are that text in ASCII. This is Python's
`json.dumps(obj, sort_keys=True, separators=(",", ":"))`. For example (one line):

    {{"action":"login","decision":"approve","details":{{"platform":"portal"}},"expires_at":1798021253.0,"id":"r1","nonce":"n","origin":"203.0.113.7","username":"alice"}}

A QR login's code is the text `tokensim-qr:` followed by the base64url, without padding, of the
request's canonical JSON as above but without `decision`; the phone decodes it, shows it, and sends
its decision here like a push's.

A decision whose signature does not verify is refused with 401 `unauthorized` and counts against
nothing. 404 `not-found`: the request is not this registration's; 409 `replayed-answer`: decided
already; 410 `challenge-expired`: too late.

{REQUEST_AUTH_DOC}"""

#: The extra response every phone route documents.
IB_KEY_REFUSED: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid signed request, or (decisions) a signature that does not verify."}
}

_SCHEME = APIKeyHeader(
    name="Authorization",
    scheme_name="IbKeyRequest",
    description=REQUEST_AUTH_DOC,
    auto_error=False,
)

#: The ``Authorization`` header of a phone request (``None`` when there is none).
IbKeyAuthDep = Annotated[str | None, Security(_SCHEME)]
