"""``tokensim code``: an OATH calculator for checking a device by hand.

It prints the code alone on standard output, so it composes with shell scripts the way oathtool
does::

    $ tokensim code hotp --key 3132333435363738393031323334353637383930 --counter 0
    755224
    $ tokensim code totp --base32 --key GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ --time 59
    287082
    $ tokensim code totp --uri 'otpauth://totp/tokensim:alice?secret=GEZD...&digits=8' --time 59
    $ tokensim code ocra --suite OCRA-1:HOTP-SHA1-8:QN06-PSHA1 --key ... --question 123456 --pin 1234

The key is hex unless ``--base32`` says it is Base32 (as oathtool's ``-b``); it is never guessed,
since many strings are both (``ABCDEF23`` is), but a hex key that is plainly Base32 is refused with a
hint. ``--uri`` takes the secret, algorithm, digits and period (TOTP) or counter (HOTP) from an
``otpauth://`` URI; an option given as well wins over the URI's value.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from tokensim.protocol.clock import SystemClock
from tokensim.protocol.errors import InvalidParameter
from tokensim.protocol.ocra import OcraSuite, ocra
from tokensim.protocol.otp import HashAlgorithm, hotp, totp
from tokensim.protocol.otpauth import KeyUri, decode_base32, parse_otpauth_uri

__all__ = ["register"]


def _key(args: argparse.Namespace) -> bytes:
    """The secret of ``--key`` (hex, or Base32 with ``--base32``) or of ``--uri``; never echoed back."""
    uri = _uri(args)
    if uri is not None:
        return uri.secret
    text: str = args.key
    if args.base32:
        try:
            return decode_base32(text)
        except InvalidParameter as e:
            raise InvalidParameter(f"--key {e}") from None
    cleaned = "".join(text.split())
    try:
        value = bytes.fromhex(cleaned)
    except ValueError:
        foreign = " ".join(repr(c) for c in sorted(set(cleaned.lower()) - set("0123456789abcdef")))
        hint = f" ({foreign} not in 0-9 and a-f)" if foreign else " (an odd number of digits)"
        try:
            decode_base32(cleaned)
        except InvalidParameter:
            pass
        else:
            hint = "; it reads as Base32: add --base32"
        raise InvalidParameter(f"--key is not a hex string{hint}") from None
    if not value:
        raise InvalidParameter("--key must not be empty")
    return value


def _uri(args: argparse.Namespace) -> KeyUri | None:
    text: str | None = getattr(args, "uri", None)
    if text is None:
        return None
    if args.base32:
        raise InvalidParameter("--base32 is for --key; an otpauth URI's secret is always Base32")
    uri = parse_otpauth_uri(text)
    if uri.type != args.algorithm:
        raise InvalidParameter(
            f"the URI holds a {uri.type.upper()} key: run 'tokensim code {uri.type} --uri ...'"
        )
    return uri


def _digits(args: argparse.Namespace) -> int:
    uri = _uri(args)
    if args.digits is not None:
        return int(args.digits)
    return 6 if uri is None else uri.digits


def _algorithm(args: argparse.Namespace) -> HashAlgorithm:
    uri = _uri(args)
    if args.hash is not None:
        return HashAlgorithm(args.hash)
    return HashAlgorithm.SHA1 if uri is None else uri.algorithm


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
    key, uri = _key(args), _uri(args)
    counter = args.counter if args.counter is not None or uri is None else uri.counter
    if counter is None:
        raise InvalidParameter("give --counter (or an otpauth://hotp URI, which has one)")
    print(hotp(key, counter, _digits(args), _algorithm(args)))
    return 0


def _run_totp(args: argparse.Namespace) -> int:
    key, uri = _key(args), _uri(args)
    step = args.step if args.step is not None else 30 if uri is None else uri.period
    when = SystemClock().now() if args.time is None else args.time
    print(totp(key, when, step, _digits(args), _algorithm(args)))
    return 0


def _run_ocra(args: argparse.Namespace) -> int:
    suite = OcraSuite.parse(args.suite)
    when = args.time
    if when is None and suite.time_step is not None:
        when = SystemClock().now()
    print(
        ocra(
            suite,
            _key(args),
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
        if digits:  # hotp and totp: the key or an otpauth URI
            source = parser.add_mutually_exclusive_group(required=True)
            source.add_argument(
                "--key", help="the secret, as hex (Base32 with --base32); no default: this or --uri"
            )
            source.add_argument(
                "--uri",
                metavar="OTPAUTH_URI",
                help="an otpauth:// URI: its secret, algorithm, digits and period or counter "
                "(an option given as well wins); no default: this or --key",
            )
        else:
            parser.add_argument("--key", required=True, help="the secret, as hex (Base32 with --base32)")
        parser.add_argument(
            "--base32",
            action="store_true",
            help="read --key as Base32 (RFC 4648), as oathtool -b does (default: hex)",
        )
        if digits:
            parser.add_argument(
                "--digits", type=int, help="code length, 6 to 10 (default: the URI's, else 6)"
            )
            parser.add_argument(
                "--hash", type=_hash, help="SHA1, SHA256 or SHA512 (default: the URI's, else SHA1)"
            )

    hotp_parser = algorithms.add_parser("hotp", help="event-based code (RFC 4226)")
    common(hotp_parser)
    hotp_parser.add_argument(
        "--counter", type=_unsigned, help="the counter value (default: the URI's; required when it has none)"
    )
    hotp_parser.set_defaults(handler=_run_hotp, algorithm="hotp")

    totp_parser = algorithms.add_parser("totp", help="time-based code (RFC 6238)")
    common(totp_parser)
    totp_parser.add_argument("--time", type=_seconds, help="Unix time in seconds (default: now)")
    totp_parser.add_argument(
        "--step", type=int, help="time step in seconds (default: the URI's period, else 30)"
    )
    totp_parser.set_defaults(handler=_run_totp, algorithm="totp")

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
