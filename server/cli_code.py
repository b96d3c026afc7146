"""``tokensim code``: an OATH calculator for checking a device by hand.

It prints the code alone on standard output, so it composes with shell scripts the way oathtool
does::

    $ tokensim code hotp --key 3132333435363738393031323334353637383930 --counter 0
    755224
    $ tokensim code ocra --suite OCRA-1:HOTP-SHA1-8:QN06-PSHA1 --key ... --question 123456 --pin 1234
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from tokensim.protocol.clock import SystemClock
from tokensim.protocol.errors import InvalidParameter
from tokensim.protocol.ocra import OcraSuite, ocra
from tokensim.protocol.otp import HashAlgorithm, hotp, totp

__all__ = ["register"]


def _hex(text: str) -> bytes:
    cleaned = "".join(text.split())
    try:
        value = bytes.fromhex(cleaned)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a hex string: {text!r}") from None
    if not value:
        raise argparse.ArgumentTypeError("the key must not be empty")
    return value


def _hash(text: str) -> HashAlgorithm:
    try:
        return HashAlgorithm.parse(text)
    except InvalidParameter as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _unsigned(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a Unix time in seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"not a Unix time in seconds: {text!r}")
    return value


def _run_hotp(args: argparse.Namespace) -> int:
    print(hotp(args.key, args.counter, args.digits, args.hash))
    return 0


def _run_totp(args: argparse.Namespace) -> int:
    when = SystemClock().now() if args.time is None else args.time
    print(totp(args.key, when, args.step, args.digits, args.hash))
    return 0


def _run_ocra(args: argparse.Namespace) -> int:
    suite = OcraSuite.parse(args.suite)
    when = args.time
    if when is None and suite.time_step is not None:
        when = SystemClock().now()
    print(
        ocra(
            suite,
            args.key,
            args.question,
            counter=args.counter,
            pin=args.pin,
            session=args.session,
            timestamp=when,
        )
    )
    return 0


def register(subparsers: Any) -> None:
    """Add ``code`` and its three algorithms to the ``tokensim`` parser."""
    code = subparsers.add_parser(
        "code",
        help="compute an HOTP, TOTP or OCRA code (like oathtool)",
        description="Compute one code and print it alone on standard output.",
    )
    algorithms = code.add_subparsers(title="algorithms", metavar="ALGORITHM", required=True)

    def common(parser: argparse.ArgumentParser, *, digits: bool = True) -> None:
        parser.add_argument("--key", type=_hex, required=True, help="the secret, as hex")
        if digits:
            parser.add_argument("--digits", type=int, default=6, help="code length, 6 to 10 (default 6)")
            parser.add_argument(
                "--hash", type=_hash, default=HashAlgorithm.SHA1, help="SHA1, SHA256 or SHA512 (default SHA1)"
            )

    hotp_parser = algorithms.add_parser("hotp", help="event-based code (RFC 4226)")
    common(hotp_parser)
    hotp_parser.add_argument("--counter", type=_unsigned, required=True, help="the counter value")
    hotp_parser.set_defaults(handler=_run_hotp)

    totp_parser = algorithms.add_parser("totp", help="time-based code (RFC 6238)")
    common(totp_parser)
    totp_parser.add_argument("--time", type=_seconds, help="Unix time in seconds (default: now)")
    totp_parser.add_argument(
        "--step", type=int, default=30, help="time step in seconds (default %(default)s)"
    )
    totp_parser.set_defaults(handler=_run_totp)

    ocra_parser = algorithms.add_parser("ocra", help="challenge-response code (RFC 6287)")
    common(ocra_parser, digits=False)
    ocra_parser.add_argument("--suite", required=True, help="e.g. OCRA-1:HOTP-SHA1-8:QN06-PSHA1")
    ocra_parser.add_argument("--question", required=True, help="the challenge")
    ocra_parser.add_argument(
        "--counter", type=_unsigned, help="C, when the suite has one (default: none; required then)"
    )
    ocra_parser.add_argument("--pin", help="the PIN, when the suite has P (default: none; required then)")
    ocra_parser.add_argument(
        "--session", type=_hex, help="session information as hex, when the suite has S (default: none)"
    )
    ocra_parser.add_argument(
        "--time", type=_seconds, help="Unix time in seconds, when the suite has T (default: now)"
    )
    ocra_parser.set_defaults(handler=_run_ocra)
