"""``tokensim board check``: the conformance check of a board, real or virtual.

It runs the handshake, the fault cases (a newer protocol version, unknown and malformed frames, a bad
CRC, line noise, an oversized frame, a retried sequence number), the mode cases and, in provisioning
mode, the published RFC 6287 vectors, then prints a pass/fail table; the exit status is 1 on any
failure. The vectors store public test keys in the board, which the output then says.
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tokensim.emulators.bridge import BoardBridge, connect
from tokensim.protocol import wire
from tokensim.protocol.errors import InvalidParameter, TokensimError
from tokensim.protocol.framing import Frame, FrameType, crc16
from tokensim.protocol.ocra import QuestionFormat, ocra
from tokensim.protocol.provisioning import DEFAULT_SUITES, DeviceKind
from tokensim.protocol.vectors import parse_vectors

__all__ = ["run_check"]

# The published RFC 6287 vectors (a copy of tests/vectors/rfc6287_ocra.txt, shipped as package data
# so an installed tokensim checks a board against the RFC's answers, never against its own).
_VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "rfc6287_ocra.txt"


@dataclass(frozen=True, slots=True)
class _Outcome:
    name: str
    status: str  # "pass", "FAIL" or "skip"
    detail: str


@dataclass(frozen=True, slots=True)
class _Vector:
    suite: str
    key: bytes
    question: str
    pin: str
    counter: int
    expected: str


def _read_vectors(path: Path) -> list[_Vector]:
    blocks = parse_vectors(path.read_text(encoding="utf-8"), name=str(path))
    return [
        _Vector(
            suite=b["Suite"],
            key=bytes.fromhex(b["Key"]),
            question=b["Question"],
            pin=b.get("PIN", ""),
            counter=int(b.get("Counter", "0")),
            expected=b["OCRA"],
        )
        for b in blocks
        if b.get("Mode") == "one-way"
    ]


def _board_can(info: wire.Info, suite: str) -> bool:
    try:
        code = wire.SuiteCode.from_suite(suite)
    except InvalidParameter:
        return False
    return info.capabilities.supports(code) and code.question_length <= wire.MAX_CHALLENGE


def _expect_error(bridge: BoardBridge, frame: Frame, code: wire.ErrorCode) -> tuple[bool, str]:
    reply = bridge.send_frame(frame)
    if isinstance(reply, wire.ErrorReply) and reply.code is code:
        return True, f"ERROR {code.name}"
    got = reply.code.name if isinstance(reply, wire.ErrorReply) else type(reply).__name__
    return False, f"expected ERROR {code.name}, got {got}"


def _answered(bridge: BoardBridge) -> tuple[bool, str]:
    reply = bridge.send_frame(wire.encode_message(wire.InfoRequest(), bridge.new_seq()))
    return isinstance(reply, wire.Info), f"answered after {bridge.resends} resend(s) so far"


def _corrupt_frame(seq: int) -> bytes:
    from cobs import cobs

    body = bytes((1, seq, FrameType.INFO, 0))
    bad = (crc16(body) ^ 0x5A5A).to_bytes(2, "big")
    return bytes(cobs.encode(body + bad)) + b"\x00"


def _fault_cases(bridge: BoardBridge) -> Iterator[_Outcome]:
    def case(name: str, run: Callable[[], tuple[bool, str]]) -> _Outcome:
        try:
            ok, detail = run()
        except TokensimError as e:
            ok, detail = False, str(e)
        return _Outcome(name, "pass" if ok else "FAIL", detail)

    yield case(
        "newer major version refused",
        lambda: _expect_error(
            bridge,
            wire.encode_message(wire.Hello(wire.PROTOCOL_MAJOR + 1, 0), bridge.new_seq()),
            wire.ErrorCode.VERSION_MISMATCH,
        ),
    )
    yield case(
        "unknown frame type",
        lambda: _expect_error(bridge, Frame(bridge.new_seq(), 0x42), wire.ErrorCode.UNKNOWN_COMMAND),
    )
    yield case(
        "reply type sent as a request",
        lambda: _expect_error(
            bridge, Frame(bridge.new_seq(), FrameType.RESULT, b"\x05\x00"), wire.ErrorCode.UNKNOWN_COMMAND
        ),
    )
    yield case(
        "payload too short",
        lambda: _expect_error(
            bridge, Frame(bridge.new_seq(), FrameType.RESPOND, b"\x04"), wire.ErrorCode.BAD_PAYLOAD
        ),
    )

    def corrupt() -> tuple[bool, str]:
        seq = bridge.new_seq()
        bridge.send_raw(_corrupt_frame(seq))
        late = [frame for frame in bridge.listen(wire.REPLY_TIMEOUT) if frame.seq == seq]
        if late:
            return False, "a frame with a bad CRC was answered"
        ok, _ = _answered(bridge)
        return ok, "dropped silently; the next request answered"

    yield case("bad CRC dropped", corrupt)

    def noise() -> tuple[bool, str]:
        # Noise with no delimiter glues onto the next frame; the bridge's retry (0x00 first) resyncs.
        bridge.send_raw(bytes(secrets.randbelow(255) + 1 for _ in range(40)))
        before = bridge.resends
        ok, _ = _answered(bridge)
        return ok, f"resynchronised with {bridge.resends - before} resend(s)"

    yield case("line noise, then resync", noise)

    def oversized() -> tuple[bool, str]:
        bridge.send_raw(b"\x55" * 100 + b"\x00")
        ok, _ = _answered(bridge)
        return ok, "dropped; the next request answered"

    yield case("oversized frame dropped", oversized)

    def retry() -> tuple[bool, str]:
        frame = wire.encode_message(wire.InfoRequest(), bridge.new_seq())
        first, second = bridge.send_frame(frame), bridge.send_frame(frame)
        return first == second, "same sequence number, same answer"

    yield case("retry with the same seq", retry)


def _vector_cases(bridge: BoardBridge, vectors: list[_Vector], source: str) -> Iterator[_Outcome]:
    info = bridge.info(refresh=True)
    suites = sorted({v.suite for v in vectors})
    for suite in suites:
        name = f"RFC 6287 {suite}"
        if not _board_can(info, suite):
            yield _Outcome(name, "skip", "the board cannot hold this suite")
            continue
        rows = [v for v in vectors if v.suite == suite]
        if any(len(v.key) > wire.MAX_SECRET for v in rows):
            yield _Outcome(name, "skip", f"its key does not fit a frame (at most {wire.MAX_SECRET} bytes)")
            continue
        failures: list[str] = []
        expected_counter: int | None = None
        key: bytes | None = None
        try:
            for index, vector in enumerate(sorted(rows, key=lambda v: (v.key, v.counter))):
                if key != vector.key or expected_counter != vector.counter:
                    bridge.provision(vector.key, suite, counter=vector.counter)
                    key, expected_counter = vector.key, vector.counter
                got = bridge.respond(vector.question, vector.pin)
                expected_counter = vector.counter + 1 if "C-" in suite else vector.counter
                if got != vector.expected:
                    # Test-vector keys and answers are public: naming them is safe.
                    failures.append(f"#{index} Q={vector.question}: expected {vector.expected}, got {got}")
        except TokensimError as e:
            failures.append(str(e))
        if failures:
            yield _Outcome(name, "FAIL", "; ".join(failures[:2]))
        else:
            yield _Outcome(name, "pass", f"{len(rows)} vectors ({source})")

    counter_suite = "OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1"
    if _board_can(info, counter_suite):
        yield _retry_keeps_counter(bridge, counter_suite)
    yield _wrong_length(bridge)


def _retry_keeps_counter(bridge: BoardBridge, suite: str) -> _Outcome:
    name = "retry never advances the counter"
    try:
        key = secrets.token_bytes(32)
        bridge.provision(key, suite, counter=41)
        frame = wire.encode_message(wire.Respond("12345678", "1234"), bridge.new_seq())
        first, again = bridge.send_frame(frame), bridge.send_frame(frame)
        fresh = bridge.respond("12345678", "1234")
    except TokensimError as e:
        return _Outcome(name, "FAIL", str(e))
    ok = (
        isinstance(first, wire.Result)
        and first == again
        and first.response == ocra(suite, key, "12345678", counter=41, pin="1234")
        and fresh == ocra(suite, key, "12345678", counter=42, pin="1234")
    )
    return _Outcome(name, "pass" if ok else "FAIL", "counter 41 twice from the cache, then 42")


def _wrong_length(bridge: BoardBridge) -> _Outcome:
    name = "challenge of the wrong length"
    suite = bridge.suite
    if suite is None or suite.question_format is not QuestionFormat.NUMERIC:
        return _Outcome(name, "skip", "no numeric suite stored")
    frame = wire.encode_message(wire.Respond("1" * (suite.question_length - 1), "1234"), bridge.new_seq())
    try:
        ok, detail = _expect_error(bridge, frame, wire.ErrorCode.BAD_PAYLOAD)
    except TokensimError as e:
        ok, detail = False, str(e)
    return _Outcome(name, "pass" if ok else "FAIL", detail)


def _mode_cases(bridge: BoardBridge) -> Iterator[_Outcome]:
    info = bridge.info(refresh=True)
    name = "PROVISION refused outside provisioning mode"
    if info.mode is wire.Mode.PROVISIONING:
        yield _Outcome(name, "skip", "the board is in provisioning mode; restart it without the jumper")
    else:
        suite = wire.SuiteCode.from_suite(DEFAULT_SUITES[DeviceKind.DSC_PLUS])
        frame = wire.encode_message(wire.Provision(suite, secrets.token_bytes(20)), bridge.new_seq())
        try:
            ok, detail = _expect_error(bridge, frame, wire.ErrorCode.WRONG_MODE)
        except TokensimError as e:
            ok, detail = False, str(e)
        yield _Outcome(name, "pass" if ok else "FAIL", detail)
    if not info.provisioned:
        frame = wire.encode_message(wire.Respond("123456", "1234"), bridge.new_seq())
        ok, detail = _expect_error(bridge, frame, wire.ErrorCode.NOT_PROVISIONED)
        yield _Outcome("RESPOND before provisioning", "pass" if ok else "FAIL", detail)


def _check(bridge: BoardBridge, vectors: list[_Vector], source: str) -> list[_Outcome]:
    info = bridge.info()
    outcomes = [
        _Outcome(
            "handshake",
            "pass",
            f"protocol {info.protocol_major}.{info.protocol_minor}, firmware "
            f"{'.'.join(map(str, info.firmware))}, {info.mode.name.lower()} mode, id {info.board_id!r}",
        )
    ]
    outcomes += _fault_cases(bridge)
    outcomes += _mode_cases(bridge)
    if bridge.info(refresh=True).mode is wire.Mode.PROVISIONING:
        outcomes += _vector_cases(bridge, vectors, source)
    else:
        outcomes.append(_Outcome("RFC 6287 vectors", "skip", "need provisioning mode (they store test keys)"))
        outcomes.append(_wrong_length(bridge))
    return outcomes


def _print_table(outcomes: list[_Outcome]) -> None:
    width = max(len(o.name) for o in outcomes)
    print(f"{'case':<{width}}  result  detail")
    print(f"{'-' * width}  ------  ------")
    for o in outcomes:
        print(f"{o.name:<{width}}  {o.status:<6}  {o.detail}")


def run_check(args: argparse.Namespace) -> int:
    """Check the board at ``args.url`` against ``args.vectors`` (default: the shipped RFC file).

    Returns:
        The exit status: 1 if any case failed, else 0.
    """
    path: Path = args.vectors if args.vectors is not None else _VECTORS
    try:
        vectors = _read_vectors(path)
    except OSError as e:
        raise InvalidParameter(f"cannot read the vector file {path}: {e.strerror or e}") from e
    source = path.name
    with connect(args.url, ready_timeout=args.ready_timeout) as bridge:
        outcomes = _check(bridge, vectors, source)
        provisioned_by_us = any(o.name.startswith("RFC 6287") and o.status != "skip" for o in outcomes)
    _print_table(outcomes)
    failed = sum(o.status == "FAIL" for o in outcomes)
    passed = sum(o.status == "pass" for o in outcomes)
    print(f"\n{passed} passed, {failed} failed, {len(outcomes) - passed - failed} skipped")
    if provisioned_by_us:
        print("note: the board now holds a public test key; enroll it again before using it to log in")
    return 1 if failed else 0
