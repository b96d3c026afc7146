"""Errors as RFC 9457 problem details, each with a stable ``code``; the one place HTTP statuses live.

Every error response is ``application/problem+json``::

    {"type": "/v1/problems/wrong-answer", "title": "Wrong answer", "status": 401,
     "detail": "the answer is wrong", "code": "wrong-answer", "instance": "/v1/login/.../answer",
     "attempts_remaining": 4}

``code`` is what clients match on; ``type`` resolves to a page describing the code. Waiting errors
carry ``retry_after`` (seconds) in the body and a ``Retry-After`` header. Every 401 carries a
``WWW-Authenticate: Bearer realm="tokensim"`` challenge (RFC 9110 §11.6.1), with
``error="invalid_token"`` when the bearer token sent is wrong or expired (RFC 6750 §3.1); an
``insufficient-scope`` 403 carries ``error="insufficient_scope"``.

:func:`problem_responses` writes the OpenAPI ``responses`` of a route from the problem codes it can
return, so the document lists every status and its ``application/problem+json`` body.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tokensim.protocol.errors import (
    DeviceLocked,
    ExpiredChallenge,
    InvalidCode,
    InvalidParameter,
    ReplayedCode,
    TokensimError,
)
from tokensim.server.errors import ServerError, Unauthorized, WrongAnswer

__all__ = [
    "ANSWER_CODES",
    "BEARER_REALM",
    "CHALLENGE_CODES",
    "PROBLEMS",
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_SCHEMA",
    "SESSION_CODES",
    "Problem",
    "ProblemType",
    "problem_from_error",
    "problem_responses",
]

#: The media type of every error response (RFC 9457 §3).
PROBLEM_MEDIA_TYPE = "application/problem+json"
#: The realm of the bearer challenge of every 401.
BEARER_REALM = "tokensim"


@dataclass(frozen=True, slots=True)
class ProblemType:
    """One stable problem code.

    Attributes:
        code: what clients match on.
        status: the HTTP status.
        title: a short summary for people.
        description: what it means and what to do.
    """

    code: str
    status: int
    title: str
    description: str


#: Every problem code the API returns, by code.
PROBLEMS: Mapping[str, ProblemType] = {
    p.code: p
    for p in (
        ProblemType(
            "malformed-json", 400, "Malformed JSON", "The body is not a JSON object; send valid JSON."
        ),
        ProblemType(
            "invalid-request",
            422,
            "Invalid request",
            "A field is missing, unknown, of the wrong type or out of range; see 'errors'.",
        ),
        ProblemType("body-too-large", 413, "Body too large", "The body exceeds the server's size limit."),
        ProblemType("unsupported-media-type", 415, "Unsupported media type", "Send application/json."),
        ProblemType("not-found", 404, "Not found", "No such resource, or not one the caller may see."),
        ProblemType("method-not-allowed", 405, "Method not allowed", "This path does not take that method."),
        ProblemType(
            "already-exists", 409, "Already exists", "The username (or another unique value) is taken."
        ),
        ProblemType(
            "unauthorized", 401, "Unauthorized", "The bearer credential is missing, wrong or expired."
        ),
        ProblemType(
            "invalid-credentials", 401, "Invalid credentials", "The username or the password is wrong."
        ),
        ProblemType(
            "too-many-attempts",
            429,
            "Too many attempts",
            "Password checks are paused, or a new SMS code was asked too soon; wait 'retry_after' seconds.",
        ),
        ProblemType(
            "unverified-number",
            409,
            "Unverified number",
            "The phone number is not one of the user's verified numbers; support adds numbers.",
        ),
        ProblemType(
            "account-locked",
            423,
            "Account locked",
            "Too many consecutive second-factor failures or wrong passwords; support unlocks.",
        ),
        ProblemType(
            "storage-unavailable",
            503,
            "Storage unavailable",
            "The server could not record the attempt (its database refused a write), so it did not check"
            " it; try again later.",
        ),
        ProblemType(
            "device-locked",
            423,
            "Device locked",
            "Too many wrong answers; the device unlocks after 'retry_after'.",
        ),
        ProblemType(
            "device-unavailable",
            409,
            "Device unavailable",
            "The device is not active, expired or not the user's.",
        ),
        ProblemType("login-expired", 410, "Login expired", "Start again with the password."),
        ProblemType(
            "wrong-answer",
            401,
            "Wrong answer",
            "The answer is wrong; 'attempts_remaining' before the device locks.",
        ),
        ProblemType("replayed-answer", 409, "Replayed answer", "The challenge or code was used already."),
        ProblemType("challenge-expired", 410, "Challenge expired", "Ask for a new challenge."),
        ProblemType(
            "challenge-closed", 409, "Challenge closed", "Too many wrong answers to it; ask for a new one."
        ),
        ProblemType(
            "push-pending",
            409,
            "Push pending",
            "The phone has not decided yet; ask again after 'retry_after'.",
        ),
        ProblemType("push-denied", 403, "Push denied", "The request was denied on the phone."),
        ProblemType(
            "delivery-failed",
            502,
            "Delivery failed",
            "The text or call could not be sent; ask again or use voice.",
        ),
        ProblemType(
            "insufficient-scope", 403, "Insufficient scope", "The session's scope does not cover this."
        ),
        ProblemType(
            "not-primary-user",
            403,
            "Not the primary user",
            "Only the primary user changes security settings.",
        ),
        ProblemType(
            "opt-out-not-allowed",
            403,
            "Opt-out not allowed",
            "Accounts in this jurisdiction (Hong Kong, India) cannot opt out of the Secure Login System.",
        ),
        ProblemType(
            "ip-restrictions-required",
            409,
            "IP restrictions required",
            "Opted-out accounts need IP restrictions for penny-stock trading permission.",
        ),
        ProblemType(
            "ip-restricted",
            403,
            "IP restricted",
            "Trading logins are allowed only from the listed addresses.",
        ),
        ProblemType(
            "sls-device-required",
            403,
            "SLS device required",
            "The action needs an active Secure Login System device; SMS or a temporary passcode is not one.",
        ),
        ProblemType(
            "temporary-access",
            403,
            "Temporary access",
            "Not allowed with a temporary passcode; print the online card or reactivate a device.",
        ),
        ProblemType(
            "identity-check-required",
            403,
            "Identity check required",
            "Record an identity verification before issuing a temporary passcode.",
        ),
        ProblemType(
            "consecutive-temporary-passcode",
            409,
            "Consecutive temporary passcode",
            "A permanent device must be reactivated before another temporary passcode.",
        ),
        ProblemType("not-eligible", 403, "Not eligible", "The account does not qualify for this device."),
        ProblemType(
            "sharing-refused", 403, "Sharing refused", "A condition for sharing the device does not hold."
        ),
        ProblemType(
            "limit-exceeded",
            403,
            "Limit exceeded",
            "Over the authorising device's withdrawal limit; 'remaining_day_usd' and "
            "'remaining_window_usd' say what is left.",
        ),
        ProblemType("account-closed", 403, "Account closed", "A closed account only reads statements."),
        ProblemType("master-key", 500, "Master key error", "The server's master key is missing or wrong."),
        ProblemType(
            "internal-error", 500, "Internal error", "The server failed; the audit log and logs say more."
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem-details response.

    Attributes:
        code: the stable code (a key of :data:`PROBLEMS`).
        detail: what happened this time.
        retry_after: seconds before trying again may help.
        extra: further members (``attempts_remaining``, ``errors``).
        invalid_token: the 401 is for a bearer token that was sent and is wrong or expired.
    """

    code: str
    detail: str
    retry_after: float | None = None
    extra: Mapping[str, Any] | None = None
    invalid_token: bool = False

    @property
    def status(self) -> int:
        """The HTTP status of this problem's code."""
        return PROBLEMS[self.code].status

    def body(self, instance: str) -> dict[str, Any]:
        """The JSON body (RFC 9457 §3.1 members plus ``code`` and the extensions)."""
        kind = PROBLEMS[self.code]
        data: dict[str, Any] = {
            "type": f"/v1/problems/{kind.code}",
            "title": kind.title,
            "status": kind.status,
            "detail": self.detail,
            "code": kind.code,
            "instance": instance,
        }
        if self.retry_after is not None:
            data["retry_after"] = round(self.retry_after, 3)
        if self.extra:
            data.update(self.extra)
        return data

    def headers(self) -> dict[str, str]:
        """``Retry-After`` in whole seconds, when there is one; the bearer challenge of a 401."""
        headers: dict[str, str] = {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        if self.status == 401:
            challenge = f'Bearer realm="{BEARER_REALM}"'
            if self.invalid_token:
                challenge += ', error="invalid_token", error_description="the token is wrong or expired"'
            headers["WWW-Authenticate"] = challenge
        elif self.code == "insufficient-scope":
            # RFC 6750 §3.1: a valid token whose scope does not cover the request.
            headers["WWW-Authenticate"] = f'Bearer realm="{BEARER_REALM}", error="insufficient_scope"'
        return headers


def problem_from_error(error: TokensimError) -> Problem:
    """The problem an error becomes."""
    if isinstance(error, ServerError):
        presented = isinstance(error, Unauthorized) and error.presented
        return Problem(
            error.code, str(error), error.retry_after, extra=error.extra or None, invalid_token=presented
        )
    if isinstance(error, WrongAnswer):
        return Problem("wrong-answer", str(error), extra={"attempts_remaining": error.attempts_remaining})
    if isinstance(error, InvalidCode):
        return Problem("wrong-answer", str(error))
    if isinstance(error, ReplayedCode):
        return Problem("replayed-answer", str(error))
    if isinstance(error, ExpiredChallenge):
        return Problem("challenge-expired", str(error))
    if isinstance(error, DeviceLocked):
        return Problem("device-locked", str(error), error.retry_after)
    if isinstance(error, InvalidParameter):
        return Problem("invalid-request", str(error))
    return Problem("invalid-request", str(error))


#: The JSON schema of a problem-details body (``#/components/schemas/Problem`` in the OpenAPI).
PROBLEM_SCHEMA: Mapping[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "An RFC 9457 problem detail; 'code' is what clients match on.",
    "required": ["type", "title", "status", "detail", "code", "instance"],
    "properties": {
        "type": {"type": "string", "description": "resolves to the code's description"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "code": {"type": "string", "enum": sorted(PROBLEMS)},
        "instance": {"type": "string"},
        "retry_after": {"type": "number", "minimum": 0, "description": "seconds to wait"},
        "attempts_remaining": {"type": "integer", "minimum": 0},
        "errors": {
            "type": "array",
            "description": "what is wrong with the request (invalid-request)",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "string"},
                    "type": {"type": "string"},
                    "msg": {"type": "string"},
                },
            },
        },
    },
}

_HEADERS: Mapping[int, Mapping[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": 'the bearer challenge: Bearer realm="tokensim"[, error="invalid_token", ...]',
            "required": True,
            "schema": {"type": "string", "pattern": "^Bearer realm="},
        }
    },
    423: {
        "Retry-After": {"description": "device-locked: seconds until it ends", "schema": {"type": "string"}}
    },
    429: {"Retry-After": {"description": "seconds until checks resume", "schema": {"type": "string"}}},
    409: {"Retry-After": {"description": "push-pending: when to ask again", "schema": {"type": "string"}}},
}


#: What a route that checks a second-factor answer can return besides its own codes.
ANSWER_CODES = (
    "wrong-answer",
    "replayed-answer",
    "challenge-expired",
    "challenge-closed",
    "device-locked",
    "account-locked",
    "push-pending",
    "push-denied",
    "not-found",
    "device-unavailable",
)
#: What a route that issues a challenge can return besides its own codes (texts and calls are sent).
CHALLENGE_CODES = ("not-found", "device-unavailable", "device-locked", "too-many-attempts", "delivery-failed")
#: What a route that takes a session token can return besides its own codes.
SESSION_CODES = ("unauthorized", "insufficient-scope", "account-closed")


def problem_responses(*codes: str, body: bool = False, params: bool = False) -> dict[int | str, Any]:
    """The OpenAPI ``responses`` of the errors a route can return, as problem details.

    Every route can answer 413 (a body over the size limit, whatever the method) and 500.

    Args:
        codes: the problem codes the route's own logic returns.
        body: the route takes a JSON body (400 malformed JSON, 415 not JSON, 422 invalid).
        params: the route takes path or query parameters (422 when they are invalid).

    Returns:
        A ``responses`` mapping for a FastAPI route decorator.
    """
    chosen = {*codes, "body-too-large", "internal-error"}
    if body:
        chosen |= {"malformed-json", "unsupported-media-type", "invalid-request"}
    if params:
        chosen.add("invalid-request")
    by_status: dict[int, list[str]] = {}
    for code in sorted(chosen, key=lambda c: (PROBLEMS[c].status, c)):
        by_status.setdefault(PROBLEMS[code].status, []).append(code)
    responses: dict[int | str, Any] = {}
    for status, names in by_status.items():
        entry: dict[str, Any] = {
            "description": "; ".join(f"{name}: {PROBLEMS[name].title}" for name in names),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        if status in _HEADERS and (status != 409 or "push-pending" in names):
            entry["headers"] = dict(_HEADERS[status])
        if "insufficient-scope" in names:
            entry["headers"] = {
                "WWW-Authenticate": {
                    "description": 'insufficient-scope: Bearer realm="tokensim", error="insufficient_scope"',
                    "schema": {"type": "string", "pattern": "^Bearer realm="},
                }
            }
        responses[status] = entry
    return responses
