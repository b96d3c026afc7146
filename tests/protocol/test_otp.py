from __future__ import annotations

import base64

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokensim.protocol import (
    HashAlgorithm,
    InvalidCode,
    InvalidParameter,
    ReplayedCode,
    check_key,
    hotp,
    time_step,
    totp,
    verify_hotp,
    verify_totp,
)

KEY20 = bytes.fromhex("3132333435363738393031323334353637383930")


@pytest.mark.vectors("rfc4226_hotp.txt")
def test_hotp_vectors(vector: dict[str, str]) -> None:
    key = bytes.fromhex(vector["Key"])
    got = hotp(key, int(vector["Counter"]), int(vector["Digits"]), HashAlgorithm(vector["Algorithm"]))
    assert got == vector["OTP"]


@pytest.mark.vectors("rfc6238_totp.txt")
def test_totp_vectors(vector: dict[str, str]) -> None:
    key = bytes.fromhex(vector["Key"])
    algorithm = HashAlgorithm(vector["Algorithm"])
    got = totp(key, int(vector["Time"]), int(vector["Step"]), int(vector["Digits"]), algorithm)
    assert got == vector["OTP"]


@pytest.mark.vectors("rfc6238_wrong_seed.txt")
def test_totp_with_the_short_seed_gives_the_known_wrong_values(vector: dict[str, str]) -> None:
    # The erratum-2866 bug's signature: if these ever matched the real table the seeds would be wrong.
    key = bytes.fromhex(vector["Key"])
    got = totp(key, int(vector["Time"]), 30, 8, HashAlgorithm(vector["Algorithm"]))
    assert got == vector["OTP"]


def test_totp_needs_a_64_bit_counter() -> None:
    # The timestamp does not fit in 32 bits; an implementation that truncates it gets another code.
    assert 20000000000 > 2**32
    assert time_step(20000000000) == 0x27BC86AA
    assert totp(KEY20, 20000000000 % 2**32, digits=8) != "65353130"
    assert totp(KEY20, 20000000000, digits=8) == "65353130"


@given(
    key=st.binary(min_size=16, max_size=64),
    counter=st.integers(min_value=0, max_value=2**63 - 1),
    digits=st.sampled_from([6, 7, 8]),
    algorithm=st.sampled_from(list(HashAlgorithm)),
)
def test_hotp_agrees_with_pyotp(key: bytes, counter: int, digits: int, algorithm: HashAlgorithm) -> None:
    # pyotp is an independent implementation: agreement means any OATH library reproduces our codes.
    secret = base64.b32encode(key).decode()
    reference = pyotp.HOTP(secret, digits=digits, digest=algorithm.value.lower())
    assert hotp(key, counter, digits, algorithm) == reference.at(counter)


@pytest.mark.parametrize("digits", [6, 10])
def test_digit_range_edges_are_accepted(digits: int) -> None:
    assert len(hotp(KEY20, 1, digits)) == digits


@pytest.mark.parametrize(
    ("counter", "digits", "message"),
    [(-1, 6, "counter"), (2**64, 6, "counter"), (0, 5, "digits"), (0, 11, "digits")],
)
def test_out_of_range_arguments_are_refused(counter: int, digits: int, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        hotp(KEY20, counter, digits)


def test_largest_counter_is_accepted() -> None:
    assert len(hotp(KEY20, 2**64 - 1)) == 6


def test_empty_key_is_refused() -> None:
    with pytest.raises(InvalidParameter):
        hotp(b"", 0)


def test_check_key_enforces_128_bits() -> None:
    assert check_key(bytes(16)) == bytes(16)
    with pytest.raises(InvalidParameter, match="at least 16"):
        check_key(bytes(15))


def test_hash_names_parse_in_any_spelling() -> None:
    assert HashAlgorithm.parse("sha-256") is HashAlgorithm.SHA256
    assert HashAlgorithm.parse(" Sha512 ") is HashAlgorithm.SHA512
    with pytest.raises(InvalidParameter, match="unknown hash"):
        HashAlgorithm.parse("MD5")


def test_verify_hotp_finds_a_code_in_the_look_ahead_window() -> None:
    match = verify_hotp(KEY20, "969429", 1, look_ahead=3)
    assert (match.counter, match.next_counter, match.drift) == (3, 4, 2)


def test_verify_hotp_refuses_a_code_beyond_the_window() -> None:
    with pytest.raises(InvalidCode):
        verify_hotp(KEY20, "338314", 1, look_ahead=2)  # counter 4


def test_verify_totp_accepts_one_step_of_drift_and_reports_it() -> None:
    code = totp(KEY20, 1000)
    assert verify_totp(KEY20, code, 1000).drift == 0
    assert verify_totp(KEY20, code, 1030).drift == -1
    with pytest.raises(InvalidCode):
        verify_totp(KEY20, code, 1060)


def test_verify_totp_refuses_a_used_step() -> None:
    code = totp(KEY20, 1000)
    match = verify_totp(KEY20, code, 1000)
    with pytest.raises(ReplayedCode):
        verify_totp(KEY20, code, 1001, last_used_step=match.step)
    # The next step's code is still good after the previous one was used.
    assert verify_totp(KEY20, totp(KEY20, 1030), 1030, last_used_step=match.step).step == match.step + 1


def test_time_step_refuses_bad_arguments() -> None:
    with pytest.raises(InvalidParameter):
        time_step(10, step=0)
    with pytest.raises(InvalidParameter):
        time_step(10, t0=20)
