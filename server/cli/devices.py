"""``tokensim devices``: list a server's devices, move their secrets as PSKC, enrol an authenticator app.

::

    $ tokensim devices list alice
    $ tokensim devices export --user alice --out alice.pskc --passphrase      # prompts twice
    $ tokensim devices import alice.pskc --user bob --passphrase-env PSKC_PASSPHRASE --pin-env DEVICE_PIN
    $ tokensim devices otpauth alice --qr terminal                            # scan with an app

These commands open the server's database directly with its master key (``--data-dir``, ``--db``,
``--config`` as for ``tokensim serve``; the key from ``$TOKENSIM_MASTER_KEY`` or the key file), never
through the HTTP API: see :mod:`tokensim.server.transfer` for why. They work while the server runs.

Protection of an exported file (RFC 6030 §6): none (plain, a warning says so), a pre-shared AES-128 key
(``--key HEX`` or ``--key-file FILE``, with an HMAC-SHA1 MAC on every value), or a passphrase stretched
with PBKDF2 (``--passphrase`` prompts, ``--passphrase-env NAME`` reads a variable; never an argument,
which other users of the machine could read). Secrets are written only to the file named by ``--out``
(``-`` for standard output), with mode 0600.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import make_url

from tokensim.protocol.errors import InvalidParameter
from tokensim.protocol.otpauth import otpauth_uri, qr_png, qr_svg, qr_terminal
from tokensim.server.config import ServerConfig
from tokensim.server.service import Service
from tokensim.server.storage.db import Database
from tokensim.server.storage.models import User
from tokensim.server.transfer import TIME_BASED_KINDS, StoredDevice, export_pskc, import_pskc, stored_devices

__all__ = ["ISSUER", "open_store", "register"]

#: The issuer named in otpauth URIs.
ISSUER = "tokensim"


def _config(args: argparse.Namespace) -> ServerConfig:
    config = ServerConfig() if args.config is None else ServerConfig.from_toml(args.config)
    if args.data_dir is not None:
        config = config.replace(data_dir=args.data_dir)
    if args.db is not None:
        config = config.replace(database_url=args.db)
    return config


def open_store(config: ServerConfig) -> Service:
    """Open an existing server database with its master key (never creating one).

    Raises:
        InvalidParameter: there is no tokensim database at the configured place.
        MasterKeyError: the master key is missing or not this database's.
    """
    if config.data_dir.exists() and not config.data_dir.is_dir():
        raise InvalidParameter(
            f"the data folder {config.data_dir} is a file, not a folder: give the server's --data-dir"
        )
    url = make_url(config.database)
    if url.get_backend_name() == "sqlite" and (not url.database or not Path(url.database).exists()):
        raise InvalidParameter(
            f"no tokensim database at {config.database}; give the server's --data-dir, --db or --config"
        )
    probe = Database(config.database, pool_size=1)
    try:
        revision = probe.revision()
    finally:
        probe.dispose()
    if revision is None:
        raise InvalidParameter(f"{config.database} is not a tokensim database (never migrated)")
    return Service.open(config, migrate=False)


def _secret_env(name: str, what: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise InvalidParameter(f"the variable {name} (the {what}) is not set or empty")
    return value


def _protection(args: argparse.Namespace, *, confirm: bool) -> tuple[bytes | None, str | None]:
    """The pre-shared key or passphrase the arguments name (both ``None`` for a plain file)."""
    if args.key is not None or args.key_file is not None:
        text = args.key if args.key is not None else None
        if args.key_file is not None:
            raw = Path(args.key_file).read_bytes()
            if len(raw) == 16:
                return raw, None
            text = raw.decode("ascii", "replace").strip()
        assert text is not None
        try:
            key = bytes.fromhex(text)
        except ValueError as e:
            raise InvalidParameter("the pre-shared key is not hex") from e
        if len(key) != 16:
            raise InvalidParameter("the pre-shared key is AES-128: 16 bytes, 32 hex digits")
        return key, None
    if args.passphrase_env is not None:
        return None, _secret_env(args.passphrase_env, "passphrase")
    if args.passphrase:
        first = getpass.getpass("PSKC passphrase: ")
        if confirm and getpass.getpass("The passphrase again: ") != first:
            raise InvalidParameter("the two passphrases differ")
        if not first:
            raise InvalidParameter("the passphrase must not be empty")
        return None, first
    return None, None


def _write_private(target: str, data: bytes) -> None:
    if target == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    path = Path(target)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT


def _usernames(service: Service) -> list[str]:
    with service.core.db.read() as session:
        return list(session.scalars(select(User.username).order_by(User.username)))


def _run_list(args: argparse.Namespace) -> int:
    with open_store(_config(args)) as service:
        usernames = [args.user] if args.user else _usernames(service)
        rows = []
        for username in usernames:
            for device in service.users.get_user(username).devices:
                rows.append((username, device.id, device.kind, device.serial, device.status))
    header = ("user", "device", "kind", "serial", "status")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _run_export(args: argparse.Namespace) -> int:
    key, passphrase = _protection(args, confirm=True)
    with open_store(_config(args)) as service:
        devices = stored_devices(service.core, username=args.user, device_ids=args.device or ())
    if not devices:
        raise InvalidParameter("no device with a secret to export")
    document = export_pskc(devices, key=key, passphrase=passphrase)
    _write_private(args.out, document)
    if key is None and passphrase is None:
        print("tokensim: warning: the file holds the device secrets unencrypted", file=sys.stderr)
    if args.out != "-":
        print(f"exported {len(devices)} device(s) to {args.out}")
    return 0


def _run_import(args: argparse.Namespace) -> int:
    key, passphrase = _protection(args, confirm=False)
    data = Path(args.file).read_bytes()
    pin: str | None = None
    if args.pin_env is not None:
        pin = _secret_env(args.pin_env, "device PIN")
    elif args.pin:
        pin = getpass.getpass("PIN of the imported devices: ")
    with open_store(_config(args)) as service:
        made = import_pskc(service.core, args.user, data, key=key, passphrase=passphrase, pin=pin)
    print(f"imported {len(made)} device(s) for {args.user}, active:")
    for device in made:
        print(f"  {device.id}  {device.kind}  {device.serial}")
    return 0


def _pick_time_based(devices: list[StoredDevice], username: str, device_id: str | None) -> StoredDevice:
    candidates = [d for d in devices if d.provisioning.kind.value in TIME_BASED_KINDS]
    if device_id is not None:
        candidates = [d for d in candidates if d.device_id == device_id]
        if not candidates:
            raise InvalidParameter(f"{device_id} is not a time-based device (DSC or IB Key) of {username}")
    if not candidates:
        raise InvalidParameter(f"{username} has no time-based device (DSC or activated IB Key)")
    if len(candidates) > 1:
        listed = ", ".join(f"{d.device_id} ({d.provisioning.kind.value})" for d in candidates)
        raise InvalidParameter(f"{username} has several time-based devices; pick one with --device: {listed}")
    return candidates[0]


def _run_otpauth(args: argparse.Namespace) -> int:
    with open_store(_config(args)) as service:
        devices = stored_devices(service.core, username=args.user)
    chosen = _pick_time_based(devices, args.user, args.device)
    provisioning = chosen.provisioning
    secret = provisioning.totp_secret if provisioning.totp_secret is not None else provisioning.secret
    uri = otpauth_uri(
        secret,
        args.user,
        issuer=args.issuer,
        algorithm=provisioning.algorithm,
        digits=provisioning.digits,
        period=provisioning.step,
    )
    if args.qr in ("svg", "png") and args.out in (None, "-"):
        raise InvalidParameter(f"--qr {args.qr} writes a file: give --out FILE")
    if args.qr == "svg":
        data = qr_svg(uri).encode()
    elif args.qr == "png":
        data = qr_png(uri)
    elif args.qr == "terminal":
        data = qr_terminal(uri).encode()
    else:
        data = (uri + "\n").encode()
    _write_private(args.out or "-", data)
    if args.out not in (None, "-"):
        print(f"wrote the {provisioning.kind.value}'s key ({args.qr or 'uri'}) to {args.out}")
    return 0


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="the server's data folder (default: ./data)")
    parser.add_argument("--db", help="the server's database URL (default: SQLite in the data folder)")
    parser.add_argument(
        "--config", type=Path, help="the server's TOML configuration file (default: none, built-in values)"
    )


def _protection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--key", metavar="HEX", help="pre-shared AES-128 key, 32 hex digits (default: no encryption)"
    )
    group.add_argument(
        "--key-file",
        type=Path,
        help="a file holding the key, 16 bytes or 32 hex digits (default: no encryption)",
    )
    group.add_argument(
        "--passphrase", action="store_true", help="PBKDF2 under a passphrase typed at a prompt"
    )
    group.add_argument(
        "--passphrase-env",
        metavar="NAME",
        help="PBKDF2 under the passphrase in variable NAME (default: no encryption)",
    )


def register(subparsers: Any) -> None:
    """Add ``devices`` (``list``, ``export``, ``import``, ``otpauth``) to the ``tokensim`` parser."""
    devices = subparsers.add_parser(
        "devices",
        help="list devices, export or import their secrets (PSKC), otpauth URIs and QR codes",
        description="Work on a server's devices through its database and master key.",
    )
    commands = devices.add_subparsers(title="devices commands", metavar="COMMAND")
    devices.set_defaults(handler=lambda _args: devices.print_help() or 0)

    listing = commands.add_parser("list", help="the devices of one user or of everyone")
    listing.add_argument("user", nargs="?", help="whose devices (default: every user's)")
    _store_options(listing)
    listing.set_defaults(handler=_run_list)

    export = commands.add_parser("export", help="write device secrets to a PSKC file (RFC 6030)")
    export.add_argument("--user", help="only this user's devices (default: every user's)")
    export.add_argument(
        "--device", action="append", metavar="ID", help="only this device, repeatable (default: all)"
    )
    export.add_argument("--out", required=True, help="the file to write ('-' for standard output)")
    _protection_options(export)
    _store_options(export)
    export.set_defaults(handler=_run_export)

    imported = commands.add_parser("import", help="enroll the devices of a PSKC file for a user, active")
    imported.add_argument("file", help="the PSKC file")
    imported.add_argument("--user", required=True, help="who gets the devices")
    pins = imported.add_mutually_exclusive_group()
    pins.add_argument("--pin", action="store_true", help="ask for the PIN of DSC+, Gold and Platinum devices")
    pins.add_argument(
        "--pin-env",
        metavar="NAME",
        help="read that PIN from variable NAME (default: none, refused when a device needs one)",
    )
    _protection_options(imported)
    _store_options(imported)
    imported.set_defaults(handler=_run_import)

    otpauth = commands.add_parser(
        "otpauth", help="the otpauth:// URI or QR code of a time-based device, for an authenticator app"
    )
    otpauth.add_argument("user", help="whose device")
    otpauth.add_argument(
        "--device", metavar="ID", help="which one, when the user has several (default: the only one)"
    )
    otpauth.add_argument(
        "--qr",
        choices=("terminal", "svg", "png"),
        help="a QR code instead of the URI: terminal (text), svg or png (a file, with --out) "
        "(default: the URI)",
    )
    otpauth.add_argument("--out", help="write to this file, mode 0600 (default: standard output)")
    otpauth.add_argument("--issuer", default=ISSUER, help="the issuer shown by the app (default %(default)s)")
    _store_options(otpauth)
    otpauth.set_defaults(handler=_run_otpauth)
