"""``tokensim code`` as a developer uses it: one code on stdout, a clear error otherwise."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tokensim.server.cli import main

KEY20 = "3132333435363738393031323334353637383930"


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


def test_help_lists_the_code_command(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--help")
    assert status == 0
    assert "code" in out
