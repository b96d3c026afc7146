from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokensim.protocol import (
    HashAlgorithm,
    InvalidCode,
    InvalidParameter,
    InvalidSuite,
    OcraSuite,
    QuestionFormat,
    encode_question,
    ocra,
    ocra_mutual_client,
    ocra_mutual_server,
    ocra_signature,
    verify_ocra,
)

KEY20 = bytes.fromhex("3132333435363738393031323334353637383930")
DSC_PLUS = "OCRA-1:HOTP-SHA1-8:QN06-PSHA1"


@pytest.mark.vectors("rfc6287_ocra.txt")
def test_ocra_vectors(vector: dict[str, str]) -> None:
    suite, key, question = vector["Suite"], bytes.fromhex(vector["Key"]), vector["Question"]
    counter = int(vector["Counter"]) if "Counter" in vector else None
    pin = vector.get("PIN")
    steps = int(vector["TimeSteps"], 16) if "TimeSteps" in vector else None
    mode = vector["Mode"]
    if mode == "one-way":
        got = ocra(suite, key, question, counter=counter, pin=pin, time_steps=steps)
    elif mode == "mutual-server":
        got = ocra_mutual_server(suite, key, question[:8], question[8:], counter=counter)
    elif mode == "mutual-client":
        got = ocra_mutual_client(suite, key, question[:8], question[8:], counter=counter, pin=pin)
    else:
        timestamp = None if steps is None else steps * 60
        got = ocra_signature(suite, key, question, counter=counter, pin=pin, timestamp=timestamp)
    assert got == vector["OCRA"]


@pytest.mark.vectors("rfc6287_question_bytes.txt")
def test_numeric_question_encoding(vector: dict[str, str]) -> None:
    encoded = encode_question(QuestionFormat.NUMERIC, vector["Question"])
    expected = bytes.fromhex(vector["Bytes"])
    assert encoded == expected.ljust(128, b"\x00")


def test_hex_and_alphanumeric_question_encoding() -> None:
    assert encode_question(QuestionFormat.HEX, "ABC")[:2] == b"\xab\xc0"
    assert encode_question(QuestionFormat.ALPHANUMERIC, "SIG1")[:5] == b"SIG1\x00"
    assert len(encode_question(QuestionFormat.NUMERIC, "00000000")) == 128


def test_parse_reads_every_part_of_the_grammar() -> None:
    suite = OcraSuite.parse("OCRA-1:HOTP-SHA512-10:C-QH64-PSHA256-S128-T48H")
    assert suite.algorithm is HashAlgorithm.SHA512
    assert suite.digits == 10
    assert suite.counter
    assert suite.question_format is QuestionFormat.HEX
    assert suite.question_length == 64
    assert suite.pin_algorithm is HashAlgorithm.SHA256
    assert suite.session_length == 128
    assert suite.time_step == 48 * 3600
    assert str(suite) == "OCRA-1:HOTP-SHA512-10:C-QH64-PSHA256-S128-T48H"


@pytest.mark.parametrize(
    ("step", "seconds"), [("T1S", 1), ("T59S", 59), ("T1M", 60), ("T30M", 1800), ("T1H", 3600)]
)
def test_time_steps(step: str, seconds: int) -> None:
    assert OcraSuite.parse(f"OCRA-1:HOTP-SHA1-6:QN08-{step}").time_step == seconds


def test_defaults_of_a_minimal_suite() -> None:
    suite = OcraSuite.parse("OCRA-1:HOTP-SHA1-0:QA04")
    assert suite.digits == 0
    assert not suite.counter
    assert suite.pin_algorithm is None
    assert suite.session_length is None
    assert suite.time_step is None


@pytest.mark.parametrize(
    ("suite", "bad_part"),
    [
        ("OCRA-2:HOTP-SHA1-6:QN08", "OCRA-2"),
        ("OCRA-1:HOTP-MD5-6:QN08", "HOTP-MD5-6"),
        ("OCRA-1:HOTP-SHA1-3:QN08", "HOTP-SHA1-3"),
        ("OCRA-1:HOTP-SHA1-11:QN08", "HOTP-SHA1-11"),
        ("OCRA-1:HOTP-SHA1-6:QX08", "QX08"),
        ("OCRA-1:HOTP-SHA1-6:QN03", "QN03"),
        ("OCRA-1:HOTP-SHA1-6:QN65", "QN65"),
        ("OCRA-1:HOTP-SHA1-6:QN08-PMD5", "PMD5"),
        ("OCRA-1:HOTP-SHA1-6:QN08-S64", "S64"),
        ("OCRA-1:HOTP-SHA1-6:QN08-T60S", "T60S"),
        ("OCRA-1:HOTP-SHA1-6:QN08-T49H", "T49H"),
        ("OCRA-1:HOTP-SHA1-6:QN08-T0H", "T0H"),
        ("OCRA-1:HOTP-SHA1-6:QN08-T1D", "T1D"),
        ("OCRA-1:HOTP-SHA1-6:QN08-C", "C"),
        ("OCRA-1:HOTP-SHA1-6:PSHA1-QN08", "PSHA1"),
        ("OCRA-1:HOTP-SHA1-6:C", "C"),
        ("OCRA-1:HOTP-SHA1-6", "OCRA-1:HOTP-SHA1-6"),
        ("OCRA-1:HOTP-SHA1-6:QN08-T1M-PSHA1", "PSHA1"),
    ],
)
def test_invalid_suites_are_refused_naming_the_bad_part(suite: str, bad_part: str) -> None:
    with pytest.raises(InvalidSuite) as caught:
        OcraSuite.parse(suite)
    assert caught.value.part == bad_part
    assert repr(bad_part) in str(caught.value)


def test_missing_inputs_are_named() -> None:
    key = bytes(20)
    with pytest.raises(InvalidParameter, match="needs a PIN"):
        ocra(DSC_PLUS, key, "123456")
    with pytest.raises(InvalidParameter, match="needs a counter"):
        ocra("OCRA-1:HOTP-SHA1-6:C-QN08", key, "12345678")
    with pytest.raises(InvalidParameter, match="needs a time"):
        ocra("OCRA-1:HOTP-SHA1-6:QN08-T1M", key, "12345678")
    with pytest.raises(InvalidParameter, match="needs session"):
        ocra("OCRA-1:HOTP-SHA1-6:QN08-S064", key, "12345678")


@pytest.mark.parametrize("question", ["123", "1234567", "12a456", ""])
def test_dsc_plus_challenge_must_be_digits_within_length(question: str) -> None:
    with pytest.raises(InvalidParameter, match="challenge"):
        ocra(DSC_PLUS, bytes(20), question, pin="1234")


def test_session_information_is_left_padded() -> None:
    suite = "OCRA-1:HOTP-SHA1-6:QN08-S004"
    assert ocra(suite, KEY20, "12345678", session=b"\x01") == ocra(
        suite, KEY20, "12345678", session=b"\0\0\0\1"
    )
    with pytest.raises(InvalidParameter, match="longer"):
        ocra(suite, KEY20, "12345678", session=bytes(5))


def test_truncation_zero_gives_the_whole_hmac() -> None:
    full = ocra("OCRA-1:HOTP-SHA256-0:QN08", KEY20, "12345678")
    assert len(full) == 64
    int(full, 16)


def test_wrong_pin_gives_a_different_dsc_plus_response() -> None:
    right = ocra(DSC_PLUS, KEY20, "123456", pin="1234")
    assert len(right) == 8
    assert ocra(DSC_PLUS, KEY20, "123456", pin="1235") != right


def test_verify_ocra_with_counter_window() -> None:
    suite = "OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1"
    key = bytes.fromhex("3132333435363738393031323334353637383930313233343536373839303132")
    match = verify_ocra(suite, key, "71565254", "12345678", counter=1, counter_window=3, pin="1234")
    assert (match.counter, match.next_counter) == (3, 4)
    with pytest.raises(InvalidCode):
        verify_ocra(suite, key, "71565254", "12345678", counter=0, counter_window=2, pin="1234")


def test_verify_ocra_with_time_window_reports_drift() -> None:
    suite = "OCRA-1:HOTP-SHA1-8:QN08-T1M"
    response = ocra(suite, KEY20, "12345678", timestamp=6000)
    assert verify_ocra(suite, KEY20, response, "12345678", timestamp=6000).time_drift == 0
    assert verify_ocra(suite, KEY20, response, "12345678", timestamp=6060, time_window=1).time_drift == -1
    with pytest.raises(InvalidCode):
        verify_ocra(suite, KEY20, response, "12345678", timestamp=6060)


@given(
    key=st.binary(min_size=16, max_size=32),
    question=st.integers(min_value=0, max_value=999999).map(lambda n: f"{n:06d}"),
    pin=st.integers(min_value=0, max_value=9999).map(lambda n: f"{n:04d}"),
)
def test_dsc_plus_responses_verify_and_a_changed_response_does_not(
    key: bytes, question: str, pin: str
) -> None:
    response = ocra(DSC_PLUS, key, question, pin=pin)
    assert verify_ocra(DSC_PLUS, key, response, question, pin=pin).counter is None
    wrong = f"{(int(response) + 1) % 10**8:08d}"
    with pytest.raises(InvalidCode):
        verify_ocra(DSC_PLUS, key, wrong, question, pin=pin)
