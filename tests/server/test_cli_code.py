"""``tokensim code`` as a developer uses it: one code on stdout, a clear error otherwise."""

from __future__ import annotations

import base64
import subprocess
import sys

import pyotp
import pytest

from tokensim.protocol.otp import HashAlgorithm
from tokensim.protocol.otpauth import otpauth_uri
from tokensim.server.cli import main

KEY20 = "3132333435363738393031323334353637383930"
#: KEY20 in Base32, as an authenticator app or oathtool -b shows it.
BASE32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        status = main(list(argv))
    except SystemExit as e:  # argparse reports usage errors by exiting
        status = int(e.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.vectors("rfc4226_hotp.txt")
def test_hotp(capsys: pytest.CaptureFixture[str], vector: dict[str, str]) -> None:
    status, out, _ = run(
        capsys,
        "code",
        "hotp",
        "--key",
        vector["Key"],
        "--counter",
        vector["Counter"],
        "--digits",
        vector["Digits"],
    )
    assert (status, out) == (0, vector["OTP"] + "\n")


@pytest.mark.vectors("rfc6238_totp.txt")
def test_totp(capsys: pytest.CaptureFixture[str], vector: dict[str, str]) -> None:
    status, out, _ = run(
        capsys,
        "code", "totp", "--key", vector["Key"], "--time", vector["Time"],
        "--digits", "8", "--hash", vector["Algorithm"].lower(),
    )  # fmt: skip
    assert (status, out) == (0, vector["OTP"] + "\n")


@pytest.mark.vectors("rfc6287_ocra.txt", Mode="one-way")
def test_ocra_one_way(capsys: pytest.CaptureFixture[str], vector: dict[str, str]) -> None:
    argv = [
        "code",
        "ocra",
        "--suite",
        vector["Suite"],
        "--key",
        vector["Key"],
        "--question",
        vector["Question"],
    ]
    if "Counter" in vector:
        argv += ["--counter", vector["Counter"]]
    if "PIN" in vector:
        argv += ["--pin", vector["PIN"]]
    if "TimeSteps" in vector:
        argv += ["--time", str(int(vector["TimeSteps"], 16) * 60)]
    status, out, _ = run(capsys, *argv)
    assert (status, out) == (0, vector["OCRA"] + "\n")


def _base32(hex_key: str) -> str:
    return base64.b32encode(bytes.fromhex(hex_key)).decode().rstrip("=")


@pytest.mark.vectors("rfc4226_hotp.txt")
def test_hotp_with_a_base32_key(capsys: pytest.CaptureFixture[str], vector: dict[str, str]) -> None:
    key = _base32(vector["Key"])
    argv = [
        "code",
        "hotp",
        "--base32",
        "--key",
        key,
        "--counter",
        vector["Counter"],
        "--digits",
        vector["Digits"],
    ]
    assert run(capsys, *argv)[:2] == (0, vector["OTP"] + "\n")


@pytest.mark.vectors("rfc6238_totp.txt")
def test_totp_from_an_otpauth_uri(capsys: pytest.CaptureFixture[str], vector: dict[str, str]) -> None:
    # The URI as tokensim devices otpauth writes it: secret, algorithm, digits and period from it alone.
    algorithm = HashAlgorithm.parse(vector["Algorithm"])
    uri = otpauth_uri(bytes.fromhex(vector["Key"]), "alice", issuer="tokensim", algorithm=algorithm, digits=8)
    assert run(capsys, "code", "totp", "--uri", uri, "--time", vector["Time"])[:2] == (
        0,
        vector["OTP"] + "\n",
    )


@pytest.mark.parametrize(
    ("written", "key"),
    [
        (BASE32, KEY20),
        (BASE32.lower(), KEY20),
        ("gezd gnbv gy3t qojq gezd gnbv gy3t qojq", KEY20),
        ("GAYTEMZUGU3DOOBZMFRGGZDFMY======", b"0123456789abcdef".hex()),  # padded (16 bytes)
        ("GAYTEMZUGU3DOOBZMFRGGZDFMY", b"0123456789abcdef".hex()),  # the same, unpadded
    ],
    ids=["upper", "lower", "grouped", "padded", "unpadded"],
)
def test_base32_is_read_as_people_write_it(
    capsys: pytest.CaptureFixture[str], written: str, key: str
) -> None:
    expected = run(capsys, "code", "totp", "--key", key, "--time", "59")
    assert expected[0] == 0
    assert run(capsys, "code", "totp", "--base32", "--key", written, "--time", "59") == expected


def test_a_uri_of_another_app_with_its_own_period_digits_and_hash(capsys: pytest.CaptureFixture[str]) -> None:
    uri = f"otpauth://totp/Example:alice@example.com?secret={BASE32.lower()}&issuer=Example&algorithm=sha256&digits=7&period=60"
    expected = pyotp.TOTP(BASE32, digits=7, interval=60, digest="sha256").at(1_700_000_000)
    assert run(capsys, "code", "totp", "--uri", uri, "--time", "1700000000")[:2] == (0, expected + "\n")
    # An option given as well wins over the URI's value.
    overridden = pyotp.TOTP(BASE32, digits=7, interval=30, digest="sha256").at(1_700_000_000)
    argv = ["code", "totp", "--uri", uri, "--time", "1700000000", "--step", "30"]
    assert run(capsys, *argv)[:2] == (0, overridden + "\n")


def test_an_hotp_uri_gives_its_counter_unless_told_otherwise(capsys: pytest.CaptureFixture[str]) -> None:
    uri = f"otpauth://hotp/tokensim:bob?secret={BASE32}&counter=9"
    assert run(capsys, "code", "hotp", "--uri", uri)[:2] == (0, "520489\n")  # RFC 4226, counter 9
    assert run(capsys, "code", "hotp", "--uri", uri, "--counter", "0")[:2] == (0, "755224\n")


def test_ocra_takes_a_base32_key(capsys: pytest.CaptureFixture[str]) -> None:
    suite = ["--suite", "OCRA-1:HOTP-SHA1-6:QN08", "--question", "00000000"]
    hexed = run(capsys, "code", "ocra", "--key", KEY20, *suite)
    assert hexed[0] == 0
    assert run(capsys, "code", "ocra", "--base32", "--key", BASE32, *suite) == hexed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["code", "totp", "--key", BASE32, "--time", "59"], "it reads as Base32: add --base32"),
        (["code", "totp", "--key", "3132z", "--time", "59"], "not a hex string ('z' not in 0-9 and a-f)"),
        (["code", "totp", "--base32", "--key", "GEZ0GNB1", "--time", "59"], "'0' '1' not in its alphabet"),
        (["code", "totp", "--base32", "--key", "GEZ", "--time", "59"], "no Base32 string is 3 characters"),
        (["code", "totp", "--base32", "--key", " ", "--time", "59"], "--key not Base32: it is empty"),
        (["code", "totp", "--uri", f"otpauth://hotp/x?secret={BASE32}&counter=1"], "run 'tokensim code hotp"),
        (["code", "hotp", "--uri", f"otpauth://totp/x?secret={BASE32}"], "run 'tokensim code totp"),
        (["code", "totp", "--uri", "https://example.com/?secret=GEZD"], "not an otpauth:// URI"),
        (["code", "totp", "--uri", "otpauth://totp/x?issuer=y"], "the secret parameter is required"),
        (["code", "totp", "--uri", "otpauth://totp/x?secret=GEZ1GNBV"], "the secret is not Base32"),
        (["code", "totp", "--uri", f"otpauth://totp/x?secret={BASE32}&digits=eight"], "digits must be"),
        (["code", "totp", "--base32", "--uri", f"otpauth://totp/x?secret={BASE32}"], "--base32 is for --key"),
        (["code", "totp", "--key", KEY20, "--uri", f"otpauth://totp/x?secret={BASE32}"], "not allowed with"),
        (["code", "totp", "--time", "59"], "one of the arguments --key --uri is required"),
        (["code", "hotp", "--key", KEY20], "give --counter"),
    ],
)
def test_bad_keys_and_uris_give_a_clear_message(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status, out, err = run(capsys, *argv)
    assert (status, out) == (2, "")
    assert message in err
    assert BASE32 not in err.replace(f"secret={BASE32}", "")  # the secret is never echoed back


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["code", "hotp", "--key", "zz", "--counter", "1"], "not a hex string"),
        (["code", "hotp", "--key", KEY20, "--counter", "-1"], "must not be negative"),
        (["code", "hotp", "--key", KEY20, "--counter", "1", "--digits", "12"], "digits must be"),
        (["code", "hotp", "--key", KEY20, "--counter", "1", "--hash", "MD5"], "unknown hash"),
        (["code", "totp", "--key", KEY20, "--time", "yesterday"], "Unix time"),
        (
            ["code", "ocra", "--suite", "OCRA-1:HOTP-SHA3-8:QN08", "--key", KEY20, "--question", "1"],
            "HOTP-SHA3-8",
        ),
        (
            [
                "code",
                "ocra",
                "--suite",
                "OCRA-1:HOTP-SHA1-8:QN06-PSHA1",
                "--key",
                KEY20,
                "--question",
                "123456",
            ],
            "PIN",
        ),
        (["code", "hotp", "--counter", "1"], "--key"),
        (["code", "ocra", "--suite", "OCRA-1:HOTP-SHA1-6:QN08", "--question", "1"], "--key"),
        (["code"], "ALGORITHM"),
    ],
)
def test_bad_input_gives_a_clear_message_and_non_zero_exit(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status, out, err = run(capsys, *argv)
    assert status != 0
    assert out == ""
    assert message in err


def test_installed_console_script_prints_version_and_a_code() -> None:
    # The console script as a user runs it, from the same environment as the tests.
    script = [sys.executable, "-c", "from tokensim.server.cli import main; raise SystemExit(main())"]
    version = subprocess.run([*script, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("tokensim ")
    code = subprocess.run(
        [*script, "code", "hotp", "--key", KEY20, "--counter", "9"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert code.stdout == "520489\n"
    uri = f"otpauth://hotp/tokensim:bob?secret={BASE32}&counter=9"
    from_uri = subprocess.run(
        [*script, "code", "hotp", "--uri", uri], capture_output=True, text=True, check=True
    )
    assert from_uri.stdout == "520489\n"


def test_help_lists_the_code_command(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--help")
    assert status == 0
    assert "code" in out
