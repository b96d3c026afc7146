"""OCRA, the OATH challenge-response algorithm (RFC 6287).

:meth:`OcraSuite.parse` reads the whole suite grammar of RFC 6287 §6 and refuses a bad suite with an
error naming the bad part; :func:`ocra` computes a response; :func:`verify_ocra` checks one.

One-way challenge-response, mutual challenge-response and plain signature (RFC 6287 §7) all reduce to
one computation over a different question: the mutual and signature helpers only arrange it.

Example (RFC 6287 Appendix C.1, the first vector):
    >>> key = bytes.fromhex("3132333435363738393031323334353637383930")
    >>> ocra("OCRA-1:HOTP-SHA1-6:QN08", key, "00000000")
    '237653'
"""

from __future__ import annotations

import enum
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from tokensim.protocol.errors import InvalidCode, InvalidParameter, InvalidSuite
from tokensim.protocol.otp import MAX_COUNTER, HashAlgorithm, dynamic_truncate

__all__ = [
    "QUESTION_BYTES",
    "OcraMatch",
    "OcraSuite",
    "QuestionFormat",
    "encode_question",
    "ocra",
    "ocra_mutual_client",
    "ocra_mutual_server",
    "ocra_signature",
    "verify_ocra",
]

#: Every question is padded to this many bytes (RFC 6287 §5.1, "Q").
QUESTION_BYTES = 128

_HASHES = {"SHA1": HashAlgorithm.SHA1, "SHA256": HashAlgorithm.SHA256, "SHA512": HashAlgorithm.SHA512}
_TIME_UNITS = {"S": (1, 59), "M": (60, 59), "H": (3600, 48)}


class QuestionFormat(enum.Enum):
    """How a challenge is written: RFC 6287 §6.3, ``QFxx`` with F in {A, N, H}."""

    ALPHANUMERIC = "A"
    NUMERIC = "N"
    HEX = "H"


@dataclass(frozen=True, slots=True)
class OcraSuite:
    """A parsed OCRA suite such as ``OCRA-1:HOTP-SHA1-8:QN06-PSHA1``.

    Attributes:
        text: the suite exactly as given; it is the first part of every HMAC message.
        algorithm: the HMAC hash.
        digits: response length; 0 means no truncation (the whole HMAC, as hex).
        counter: whether a counter ``C`` is an input.
        question_format: how the challenge is written.
        question_length: the maximum challenge length, 4 to 64.
        pin_algorithm: the hash applied to the PIN, or ``None`` if no PIN is an input.
        session_length: bytes of session information, or ``None``.
        time_step: seconds per time step, or ``None`` if time is not an input.
    """

    text: str
    algorithm: HashAlgorithm
    digits: int
    counter: bool
    question_format: QuestionFormat
    question_length: int
    pin_algorithm: HashAlgorithm | None
    session_length: int | None
    time_step: int | None

    @classmethod
    def parse(cls, text: str) -> OcraSuite:
        """Parse a suite string (RFC 6287 §6).

        Raises:
            InvalidSuite: the string breaks the grammar; the error names the part.
        """
        parts = text.split(":")
        if len(parts) != 3:
            raise InvalidSuite(text, text, "must have three parts, Algorithm:CryptoFunction:DataInput")
        version, function, data_input = parts
        if version != "OCRA-1":
            raise InvalidSuite(text, version, "is not a known algorithm version; only OCRA-1 is defined")

        match = re.fullmatch(r"HOTP-(SHA1|SHA256|SHA512)-(\d{1,2})", function)
        if match is None:
            raise InvalidSuite(text, function, "must be HOTP-SHA1, HOTP-SHA256 or HOTP-SHA512 then -digits")
        digits = int(match.group(2))
        if digits != 0 and not 4 <= digits <= 10:
            raise InvalidSuite(text, function, "truncation must be 0 or from 4 to 10 digits")

        fields = data_input.split("-")
        position = 0

        def peek() -> str | None:
            return fields[position] if position < len(fields) else None

        counter = peek() == "C"
        if counter:
            position += 1

        question = peek()
        q_match = re.fullmatch(r"Q([ANH])(\d{2})", question or "")
        if question is None or q_match is None:
            raise InvalidSuite(
                text, question or data_input, "must be a question QA, QN or QH with two digits"
            )
        question_length = int(q_match.group(2))
        if not 4 <= question_length <= 64:
            raise InvalidSuite(text, question, "question length must be from 04 to 64")
        position += 1

        pin_algorithm: HashAlgorithm | None = None
        field = peek()
        if field is not None and field.startswith("P"):
            if field[1:] not in _HASHES:
                raise InvalidSuite(text, field, "PIN hash must be PSHA1, PSHA256 or PSHA512")
            pin_algorithm = _HASHES[field[1:]]
            position += 1

        session_length: int | None = None
        field = peek()
        if field is not None and field.startswith("S"):
            if re.fullmatch(r"S\d{3}", field) is None or int(field[1:]) == 0:
                raise InvalidSuite(text, field, "session must be S followed by three digits, 001 to 999")
            session_length = int(field[1:])
            position += 1

        time_step: int | None = None
        field = peek()
        if field is not None and field.startswith("T"):
            t_match = re.fullmatch(r"T(\d{1,2})([SMH])", field)
            if t_match is None:
                raise InvalidSuite(text, field, "time step must be T then 1-59S, 1-59M or 0-48H")
            count, unit = int(t_match.group(1)), t_match.group(2)
            seconds, largest = _TIME_UNITS[unit]
            if count > largest or count == 0:
                # The grammar admits T0H, but a zero-length step cannot count anything.
                raise InvalidSuite(
                    text, field, f"time step count must be from 1 to {largest} for unit {unit}"
                )
            time_step = count * seconds
            position += 1

        if position != len(fields):
            raise InvalidSuite(text, fields[position], "is not allowed here (order is C, Q, P, S, T)")

        return cls(
            text=text,
            algorithm=_HASHES[match.group(1)],
            digits=digits,
            counter=counter,
            question_format=QuestionFormat(q_match.group(1)),
            question_length=question_length,
            pin_algorithm=pin_algorithm,
            session_length=session_length,
            time_step=time_step,
        )

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class OcraMatch:
    """A successful OCRA verification.

    Attributes:
        counter: the counter that matched, or ``None`` if the suite has no counter.
        next_counter: what the verifier stores next, or ``None``.
        time_steps: the time step that matched, or ``None`` if the suite has no time input.
        time_drift: matched step minus the current step, or ``None``.
    """

    counter: int | None
    next_counter: int | None
    time_steps: int | None
    time_drift: int | None


def _as_suite(suite: OcraSuite | str) -> OcraSuite:
    return suite if isinstance(suite, OcraSuite) else OcraSuite.parse(suite)


def _check_question(suite: OcraSuite, question: str) -> None:
    if not 4 <= len(question) <= suite.question_length:
        raise InvalidParameter(
            f"challenge must be 4 to {suite.question_length} characters for {suite.text}, got {len(question)}"
        )
    pattern = {
        QuestionFormat.NUMERIC: r"[0-9]+",
        QuestionFormat.HEX: r"[0-9A-Fa-f]+",
        QuestionFormat.ALPHANUMERIC: r"[\x21-\x7e]+",
    }[suite.question_format]
    if re.fullmatch(pattern, question) is None:
        kind = suite.question_format.name.lower()
        raise InvalidParameter(f"challenge must be {kind} for {suite.text}")


def encode_question(question_format: QuestionFormat, question: str) -> bytes:
    """Encode a challenge as the 128-byte ``Q`` field (RFC 6287 §5.1).

    A numeric challenge is read as a decimal number, written in hex, given a trailing 0 nibble when
    the hex has an odd length, then right-padded with zero bytes; a hex challenge is the same without
    the decimal step; an alphanumeric one is its ASCII bytes.
    """
    if question_format is QuestionFormat.ALPHANUMERIC:
        raw = question.encode("ascii")
    else:
        hex_text = format(int(question), "X") if question_format is QuestionFormat.NUMERIC else question
        if len(hex_text) % 2:
            hex_text += "0"
        raw = bytes.fromhex(hex_text)
    if len(raw) > QUESTION_BYTES:
        raise InvalidParameter(f"challenge encodes to {len(raw)} bytes; at most {QUESTION_BYTES} fit")
    return raw.ljust(QUESTION_BYTES, b"\x00")


def _message(
    suite: OcraSuite,
    questions: Sequence[str],
    counter: int | None,
    pin: str | None,
    pin_hash: bytes | None,
    session: bytes | None,
    time_steps: int | None,
) -> bytes:
    message = suite.text.encode("ascii") + b"\x00"
    if suite.counter:
        if counter is None:
            raise InvalidParameter(f"{suite.text} needs a counter")
        if not 0 <= counter <= MAX_COUNTER:
            raise InvalidParameter(f"counter must be from 0 to 2**64-1, got {counter}")
        message += counter.to_bytes(8, "big")
    for question in questions:
        _check_question(suite, question)
    message += encode_question(suite.question_format, "".join(questions))
    if suite.pin_algorithm is not None:
        if pin_hash is None:
            if pin is None:
                raise InvalidParameter(f"{suite.text} needs a PIN")
            pin_hash = suite.pin_algorithm.new(pin.encode()).digest()
        if len(pin_hash) != suite.pin_algorithm.digest_size:
            raise InvalidParameter(f"PIN hash must be {suite.pin_algorithm.digest_size} bytes")
        message += pin_hash
    if suite.session_length is not None:
        if session is None:
            raise InvalidParameter(f"{suite.text} needs session information")
        if len(session) > suite.session_length:
            raise InvalidParameter(f"session information is longer than {suite.session_length} bytes")
        message += session.rjust(suite.session_length, b"\x00")
    if suite.time_step is not None:
        if time_steps is None:
            raise InvalidParameter(f"{suite.text} needs a time")
        message += time_steps.to_bytes(8, "big")
    return message


def _steps(suite: OcraSuite, timestamp: float | None, time_steps: int | None) -> int | None:
    if suite.time_step is None:
        return None
    if time_steps is not None and timestamp is not None:
        raise InvalidParameter("give either timestamp or time_steps, not both")
    if time_steps is not None:
        return time_steps
    if timestamp is None:
        return None
    if timestamp < 0:
        raise InvalidParameter("timestamp must not be negative")
    return int(timestamp // suite.time_step)


def ocra(
    suite: OcraSuite | str,
    key: bytes,
    question: str | Sequence[str],
    *,
    counter: int | None = None,
    pin: str | None = None,
    pin_hash: bytes | None = None,
    session: bytes | None = None,
    timestamp: float | None = None,
    time_steps: int | None = None,
) -> str:
    """Compute an OCRA response (RFC 6287 §5.2).

    Args:
        suite: the suite, parsed or as text.
        key: the shared secret.
        question: the challenge; a sequence of challenges is concatenated in order (mutual mode).
        counter: ``C``, when the suite has one.
        pin: the PIN, hashed with the suite's PIN hash; or give ``pin_hash`` already hashed.
        session: session information, left-padded to the suite's length.
        timestamp: Unix seconds, turned into time steps of the suite's size; or give ``time_steps``.

    Returns:
        ``digits`` decimal digits, or the whole HMAC as lowercase hex when the suite says truncation 0.

    Raises:
        InvalidSuite: the suite text is invalid.
        InvalidParameter: an input is missing, of the wrong form or out of range.
    """
    parsed = _as_suite(suite)
    if not key:
        raise InvalidParameter("key must not be empty")
    questions = [question] if isinstance(question, str) else list(question)
    if not questions:
        raise InvalidParameter("a challenge is required")
    steps = _steps(parsed, timestamp, time_steps)
    mac = parsed.algorithm.hmac(key, _message(parsed, questions, counter, pin, pin_hash, session, steps))
    if parsed.digits == 0:
        return mac.hex()
    return dynamic_truncate(mac, parsed.digits)


def ocra_mutual_server(
    suite: OcraSuite | str,
    key: bytes,
    client_question: str,
    server_question: str,
    *,
    counter: int | None = None,
    session: bytes | None = None,
    timestamp: float | None = None,
) -> str:
    """The server's answer in mutual challenge-response (RFC 6287 §7.3): OCRA over ``QC || QS``.

    The server side carries no PIN (RFC 6287 §7.3.1).
    """
    return ocra(
        suite, key, (client_question, server_question), counter=counter, session=session, timestamp=timestamp
    )


def ocra_mutual_client(
    suite: OcraSuite | str,
    key: bytes,
    server_question: str,
    client_question: str,
    *,
    counter: int | None = None,
    pin: str | None = None,
    session: bytes | None = None,
    timestamp: float | None = None,
) -> str:
    """The client's answer in mutual challenge-response (RFC 6287 §7.3): OCRA over ``QS || QC``."""
    return ocra(
        suite,
        key,
        (server_question, client_question),
        counter=counter,
        pin=pin,
        session=session,
        timestamp=timestamp,
    )


def ocra_signature(
    suite: OcraSuite | str,
    key: bytes,
    signature_challenge: str,
    *,
    counter: int | None = None,
    pin: str | None = None,
    timestamp: float | None = None,
) -> str:
    """A plain signature (RFC 6287 §7.4): the question is the data to sign, or a digest of it."""
    return ocra(suite, key, signature_challenge, counter=counter, pin=pin, timestamp=timestamp)


def verify_ocra(
    suite: OcraSuite | str,
    key: bytes,
    response: str,
    question: str | Sequence[str],
    *,
    counter: int | None = None,
    counter_window: int = 0,
    pin: str | None = None,
    pin_hash: bytes | None = None,
    session: bytes | None = None,
    timestamp: float | None = None,
    time_window: int = 0,
) -> OcraMatch:
    """Check an OCRA response, trying ``counter_window`` counters ahead and ``time_window`` steps either side.

    Every candidate is computed and compared in constant time whatever matched first.

    Raises:
        InvalidCode: no candidate gives ``response``.
        InvalidParameter: an input is missing or malformed.
    """
    parsed = _as_suite(suite)
    if counter_window < 0 or time_window < 0:
        raise InvalidParameter("windows must not be negative")
    counters: list[int | None] = [None]
    if parsed.counter:
        if counter is None:
            raise InvalidParameter(f"{parsed.text} needs a counter")
        counters = list(range(counter, min(counter + counter_window, MAX_COUNTER) + 1))
    steps: list[int | None] = [None]
    now: int | None = None
    if parsed.time_step is not None:
        if timestamp is None:
            raise InvalidParameter(f"{parsed.text} needs a time")
        now = _steps(parsed, timestamp, None)
        assert now is not None
        steps = list(range(max(now - time_window, 0), now + time_window + 1))
    presented = response.strip().lower().encode()
    found: tuple[int | None, int | None] | None = None
    for candidate_counter in counters:
        for candidate_step in steps:
            expected = ocra(
                parsed,
                key,
                question,
                counter=candidate_counter,
                pin=pin,
                pin_hash=pin_hash,
                session=session,
                time_steps=candidate_step,
            ).encode()
            if hmac.compare_digest(expected, presented) and found is None:
                found = (candidate_counter, candidate_step)
    if found is None:
        raise InvalidCode("OCRA response does not match")
    matched_counter, matched_step = found
    return OcraMatch(
        counter=matched_counter,
        next_counter=None if matched_counter is None else matched_counter + 1,
        time_steps=matched_step,
        time_drift=None if matched_step is None or now is None else matched_step - now,
    )
