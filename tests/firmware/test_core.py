"""The C core against the Python reference: known answers, then random inputs (hypothesis)."""

from __future__ import annotations

import binascii
import hashlib
import hmac
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from cobs import cobs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokensim.protocol import wire
from tokensim.protocol.ocra import QuestionFormat, ocra
from tokensim.protocol.otp import HashAlgorithm

bounded = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class Calculator:
    """One tsim_unit process answering a command per line."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self._process = process

    def ask(self, *words: str) -> str:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write(" ".join(words) + "\n")
        self._process.stdin.flush()
        return self._process.stdout.readline().strip()


def _hex(data: bytes) -> str:
    return data.hex() or "-"


@pytest.fixture(scope="module")
def calculator(firmware_build: Any) -> Iterator[Calculator]:
    process = subprocess.Popen(
        [str(firmware_build.unit)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield Calculator(process)
    assert process.stdin is not None
    process.stdin.close()  # end of input ends the calculator
    process.wait(timeout=10)
    for stream in (process.stdout, process.stderr):
        assert stream is not None
        stream.close()


def test_known_answers(firmware_build: Any) -> None:
    # FIPS 180 examples (one, two and a million-byte message), RFC 2202/4231 HMACs, CRC check value,
    # the first RFC 6287 vector.
    result = subprocess.run(
        [str(firmware_build.unit), "selftest"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ok 11"


@bounded
@given(data=st.binary(max_size=300))
def test_sha_matches_hashlib(calculator: Calculator, data: bytes) -> None:
    assert calculator.ask("sha1", _hex(data)) == hashlib.sha1(data).hexdigest()  # noqa: S324 - the algorithm under test
    assert calculator.ask("sha256", _hex(data)) == hashlib.sha256(data).hexdigest()


@bounded
@given(key=st.binary(max_size=150), message=st.binary(max_size=200))
def test_hmac_matches_the_standard_library(calculator: Calculator, key: bytes, message: bytes) -> None:
    assert calculator.ask("hmac1", _hex(key), _hex(message)) == hmac.new(key, message, "sha1").hexdigest()
    assert calculator.ask("hmac256", _hex(key), _hex(message)) == hmac.new(key, message, "sha256").hexdigest()


@bounded
@given(data=st.binary(max_size=62))
def test_crc_and_cobs_match_the_python_framing(calculator: Calculator, data: bytes) -> None:
    assert int(calculator.ask("crc", _hex(data)), 16) == binascii.crc_hqx(data, 0xFFFF)
    encoded = cobs.encode(data)
    assert calculator.ask("cobs", _hex(data)) == encoded.hex()
    assert calculator.ask("uncobs", encoded.hex()) == _hex(data)


def test_malformed_cobs_is_refused(calculator: Calculator) -> None:
    assert calculator.ask("uncobs", "05aabb") == "E02"  # the code byte points past the end
    assert calculator.ask("uncobs", "02aa00") == "E02"  # a zero inside


suites = st.builds(
    wire.SuiteCode,
    algorithm=st.sampled_from([HashAlgorithm.SHA1, HashAlgorithm.SHA256]),
    digits=st.integers(4, 10),
    question_format=st.just(QuestionFormat.NUMERIC),
    question_length=st.integers(4, wire.MAX_CHALLENGE),
    pin_algorithm=st.sampled_from([None, HashAlgorithm.SHA1, HashAlgorithm.SHA256]),
    counter=st.booleans(),
)


@bounded
@given(
    suite=suites,
    key=st.binary(min_size=wire.MIN_SECRET, max_size=wire.MAX_SECRET),
    counter=st.integers(0, 2**64 - 1),
    data=st.data(),
)
def test_ocra_matches_the_python_reference(
    calculator: Calculator, suite: wire.SuiteCode, key: bytes, counter: int, data: st.DataObject
) -> None:
    length = data.draw(st.integers(4, suite.question_length))
    question = data.draw(st.from_regex(rf"[0-9]{{{length}}}", fullmatch=True))
    pin = data.draw(st.from_regex(r"[0-9]{4}", fullmatch=True)) if suite.pin_algorithm else "-"
    expected = ocra(
        suite.text(),
        key,
        question,
        counter=counter if suite.counter else None,
        pin=pin if suite.pin_algorithm else None,
    )
    got = calculator.ask("ocra", suite.to_bytes().hex(), key.hex(), str(counter), question, pin)
    assert got == expected


def test_ocra_refuses_what_the_suite_does_not_take(calculator: Calculator) -> None:
    dsc_plus = wire.SuiteCode.from_suite("OCRA-1:HOTP-SHA1-8:QN06-PSHA1").to_bytes().hex()
    key = bytes(20).hex()
    assert calculator.ask("ocra", dsc_plus, key, "0", "12a456", "1234") == "E02"  # not digits
    assert calculator.ask("ocra", dsc_plus, key, "0", "1234567", "1234") == "E02"  # longer than QN06
    assert calculator.ask("ocra", dsc_plus, key, "0", "123456", "-") == "E02"  # PIN missing
    sha512 = wire.SuiteCode.from_suite("OCRA-1:HOTP-SHA512-8:QN06").to_bytes().hex()
    assert calculator.ask("ocra", sha512, key, "0", "123456", "-") == "E08"  # not in this core
