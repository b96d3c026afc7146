"""Device secrets in and out of PSKC files (RFC 6030).

The XML, the AES-128-CBC encryption with its HMAC-SHA1 value MACs, and PBKDF2 key derivation are
python-pskc's work; this module maps tokensim's :class:`~tokensim.protocol.provisioning.Provisioning`
to PSKC keys and back, and turns every failure into one clear error.

Reading is all or nothing: :func:`read_pskc` decrypts and checks every key before it returns, so a
file with one tampered value imports nothing.

How tokensim's devices are written (``DeviceInfo/Model`` holds the device kind):

==============  ==========================================================================
kind            PSKC keys, each in a KeyPackage of its own with the device's DeviceInfo
==============  ==========================================================================
dsc             a TOTP key (TimeInterval, ResponseFormat Length, hash in Suite) and a PIN key
dsc-plus        an OCRA key with its suite (the PIN is the user's, never stored)
gold            an OCRA key with its suite and counter
platinum        an OCRA key with its suite
ib-key          an OCRA key (challenge/response) and a TOTP key (time-based codes)
scc, online-scc a tokensim code-card key (``urn:x-tokensim:code-card``), expiry in Policy
==============  ==========================================================================
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from pskc import PSKC
from pskc.exceptions import PSKCError

from tokensim.protocol.errors import InvalidDocument, InvalidParameter
from tokensim.protocol.otp import HashAlgorithm
from tokensim.protocol.provisioning import DEFAULT_SUITES, DeviceKind, Provisioning

__all__ = [
    "CARD_ALGORITHM",
    "HOTP_ALGORITHM",
    "OCRA_ALGORITHM",
    "PIN_ALGORITHM",
    "TOTP_ALGORITHM",
    "PskcKey",
    "export_devices",
    "from_pskc_keys",
    "import_devices",
    "read_pskc",
    "to_pskc_keys",
    "write_pskc",
]

HOTP_ALGORITHM = "urn:ietf:params:xml:ns:keyprov:pskc:hotp"
TOTP_ALGORITHM = "urn:ietf:params:xml:ns:keyprov:pskc:totp"
PIN_ALGORITHM = "urn:ietf:params:xml:ns:keyprov:pskc:pin"
#: The OCRA URI of the PSKC algorithm profiles draft; the suite goes in AlgorithmParameters/Suite.
OCRA_ALGORITHM = "urn:ietf:params:xml:ns:keyprov:pskc#OCRA-1"
#: tokensim's own algorithm URI for code cards, which no standard profile covers.
CARD_ALGORITHM = "urn:x-tokensim:code-card"
_OCRA_ALIASES = {OCRA_ALGORITHM, "urn:ietf:params:xml:ns:keyprov:pskc:ocra"}
_TOTP_ALIASES = {TOTP_ALGORITHM, "urn:ietf:params:xml:ns:keyprov:pskc#totp"}
_MANUFACTURER = "tokensim"


@dataclass(frozen=True, slots=True)
class PskcKey:
    """One decrypted key of a PSKC file.

    Attributes:
        id: the key's Id attribute.
        algorithm: the algorithm URI.
        secret: the decrypted secret.
        serial: the device serial number, if any.
        manufacturer: the device manufacturer, if any.
        model: the device model; tokensim writes its device kind here.
        issuer: the key issuer, if any.
        counter: the HOTP/OCRA counter, if any.
        time_interval: the TOTP step in seconds, if any.
        digits: the response length, if any.
        suite: the OCRA suite, or for TOTP the hash (``HMAC-SHA256``), if any.
        pin_key_id: the Id of the key that holds this key's PIN, if any.
        start_date: Policy StartDate, if any.
        expiry_date: Policy ExpiryDate, if any.
    """

    id: str
    algorithm: str
    secret: bytes
    serial: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    issuer: str | None = None
    counter: int | None = None
    time_interval: int | None = None
    digits: int | None = None
    suite: str | None = None
    pin_key_id: str | None = None
    start_date: datetime | None = None
    expiry_date: datetime | None = None

    def __repr__(self) -> str:
        return f"PskcKey(id={self.id!r}, algorithm={self.algorithm!r}, serial={self.serial!r})"


def _protect(container: PSKC, key: bytes | None, passphrase: str | None, iterations: int) -> None:
    if key is not None and passphrase is not None:
        raise InvalidParameter("give a pre-shared key or a passphrase, not both")
    if key is not None:
        if len(key) != 16:
            raise InvalidParameter("an AES-128 pre-shared key is 16 bytes")
        container.encryption.setup_preshared_key(key=key, key_name="Pre-shared-key")
    elif passphrase is not None:
        if not passphrase:
            raise InvalidParameter("the passphrase must not be empty")
        container.encryption.setup_pbkdf2(passphrase, key_name="Passphrase", iterations=iterations)


def write_pskc(
    keys: Sequence[PskcKey],
    *,
    key: bytes | None = None,
    passphrase: str | None = None,
    iterations: int = 100_000,
) -> bytes:
    """Write keys as a PSKC document: plain, under a 16-byte pre-shared key, or under a passphrase.

    Encrypted values use AES-128-CBC with an HMAC-SHA1 ValueMAC (RFC 6030 §6.1); a passphrase is
    stretched with PBKDF2-HMAC-SHA1 and a random salt (RFC 6030 §6.2).
    """
    container = PSKC()
    for item in keys:
        # RFC 6030's schema allows one Key per KeyPackage: a device with two keys (a DSC's PIN, an IB
        # Key's time code) is two packages with the same DeviceInfo, as in the RFC's figure 4.
        fields: dict[str, str | bytes | int | datetime | None] = {
            "serial": item.serial,
            "manufacturer": item.manufacturer,
            "model": item.model,
            "id": item.id,
            "algorithm": item.algorithm,
            "secret": item.secret,
        }
        optional = {
            "issuer": item.issuer,
            "counter": item.counter,
            "time_interval": item.time_interval,
            "response_length": item.digits,
            "response_encoding": None if item.digits is None else "DECIMAL",
            "algorithm_suite": item.suite,
            "policy.pin_key_id": item.pin_key_id,
            "policy.start_date": item.start_date,
            "policy.expiry_date": item.expiry_date,
        }
        fields.update({name: value for name, value in optional.items() if value is not None})
        container.add_key(**{name: value for name, value in fields.items() if value is not None})
    _protect(container, key, passphrase, iterations)
    out = io.BytesIO()
    container.write(out)
    return out.getvalue()


def read_pskc(data: bytes, *, key: bytes | None = None, passphrase: str | None = None) -> list[PskcKey]:
    """Read and decrypt every key of a PSKC document, checking every ValueMAC.

    Raises:
        InvalidDocument: the XML is malformed, a value is tampered with, a MAC does not match, or the
            key or passphrase is wrong or missing. Nothing is returned in part.
    """
    try:
        container = PSKC(io.BytesIO(data))
        if key is not None:
            container.encryption.key = key
        elif passphrase is not None:
            container.encryption.derive_key(passphrase)
        result = []
        for item in container.keys:
            secret = item.secret
            if secret is None:
                raise InvalidDocument(f"PSKC key {item.id!r} has no secret")
            item.check()
            result.append(
                PskcKey(
                    id=str(item.id),
                    algorithm=str(item.algorithm),
                    secret=bytes(secret),
                    serial=item.serial,
                    manufacturer=item.manufacturer,
                    model=item.model,
                    issuer=item.issuer,
                    counter=item.counter,
                    time_interval=item.time_interval,
                    digits=item.response_length,
                    suite=item.algorithm_suite,
                    pin_key_id=item.policy.pin_key_id,
                    start_date=item.policy.start_date,
                    expiry_date=item.policy.expiry_date,
                )
            )
    except PSKCError as e:
        raise InvalidDocument(f"PSKC file refused: {e}") from e
    except (ValueError, TypeError) as e:
        # python-pskc reports some malformed values (bad base64, bad integers) as plain errors.
        raise InvalidDocument(f"PSKC file refused: {e}") from e
    return result


def _timestamp(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def to_pskc_keys(device: Provisioning) -> list[PskcKey]:
    """The PSKC keys that describe one device (see the module docstring)."""
    kind, serial = device.kind, device.serial
    base = PskcKey(
        id=serial,
        algorithm=CARD_ALGORITHM,
        secret=device.secret,
        serial=serial,
        manufacturer=_MANUFACTURER,
        model=kind.value,
    )
    totp = replace(
        base,
        algorithm=TOTP_ALGORITHM,
        time_interval=device.step,
        digits=device.digits,
        suite=f"HMAC-{device.algorithm.value}",
    )
    if kind in (DeviceKind.SCC, DeviceKind.ONLINE_SCC):
        return [
            replace(base, start_date=_timestamp(device.issued_at), expiry_date=_timestamp(device.expires_at))
        ]
    if kind is DeviceKind.DSC:
        if device.pin is None:
            return [totp]
        pin = replace(base, id=f"{serial}-pin", algorithm=PIN_ALGORITHM, secret=device.pin.encode())
        return [replace(totp, pin_key_id=pin.id), pin]
    if kind in DEFAULT_SUITES:
        keys = [replace(base, algorithm=OCRA_ALGORITHM, suite=device.suite or DEFAULT_SUITES[kind])]
        if kind is DeviceKind.IB_KEY and device.totp_secret is not None:
            keys.append(replace(totp, id=f"{serial}-totp", secret=device.totp_secret))
        return keys
    raise InvalidParameter(f"a {kind.value} device has no secret to export")


def _hash_of(suite: str | None) -> HashAlgorithm:
    if suite is None:
        return HashAlgorithm.SHA1
    return HashAlgorithm.parse(suite.upper().removeprefix("HMAC-"))


def _seconds(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _kind_of(keys: list[PskcKey]) -> DeviceKind:
    model = keys[0].model
    if model in {kind.value for kind in DeviceKind}:
        return DeviceKind(model)
    algorithms = {key.algorithm for key in keys}
    if algorithms & _OCRA_ALIASES:
        suite = next(key.suite for key in keys if key.algorithm in _OCRA_ALIASES)
        for kind, default in DEFAULT_SUITES.items():
            if suite == default and kind is not DeviceKind.IB_KEY:
                return kind
        raise InvalidDocument(f"OCRA suite {suite!r} matches no tokensim device")
    if algorithms & _TOTP_ALIASES:
        return DeviceKind.DSC
    raise InvalidDocument(f"no tokensim device uses {sorted(algorithms)}")


def from_pskc_keys(keys: Sequence[PskcKey]) -> list[Provisioning]:
    """Group keys by device serial and turn each group into a device.

    A file written by tokensim names the kind in ``Model``; a foreign file's TOTP key becomes a DSC
    and an OCRA key the device whose default suite it uses.

    Raises:
        InvalidDocument: a key fits no tokensim device, or a device is incomplete.
    """
    groups: dict[str, list[PskcKey]] = {}
    for key in keys:
        if key.algorithm == PIN_ALGORITHM:
            continue
        groups.setdefault(key.serial or key.id, []).append(key)
    pins = {key.id: key.secret.decode("utf-8", "replace") for key in keys if key.algorithm == PIN_ALGORITHM}
    devices = []
    for serial, group in groups.items():
        kind = _kind_of(group)
        ocra_key = next((k for k in group if k.algorithm in _OCRA_ALIASES), None)
        totp_key = next((k for k in group if k.algorithm in _TOTP_ALIASES), None)
        card_key = next((k for k in group if k.algorithm == CARD_ALGORITHM), None)
        try:
            if kind in (DeviceKind.SCC, DeviceKind.ONLINE_SCC) and card_key is not None:
                device = Provisioning(
                    kind=kind,
                    serial=serial,
                    secret=card_key.secret,
                    issued_at=_seconds(card_key.start_date),
                    expires_at=_seconds(card_key.expiry_date),
                )
            elif kind is DeviceKind.DSC and totp_key is not None:
                device = Provisioning(
                    kind=kind,
                    serial=serial,
                    secret=totp_key.secret,
                    step=totp_key.time_interval or 30,
                    digits=totp_key.digits or 6,
                    algorithm=_hash_of(totp_key.suite),
                    pin=None if totp_key.pin_key_id is None else pins.get(totp_key.pin_key_id),
                )
            elif ocra_key is not None and kind in DEFAULT_SUITES:
                device = Provisioning(
                    kind=kind,
                    serial=serial,
                    secret=ocra_key.secret,
                    suite=ocra_key.suite or DEFAULT_SUITES[kind],
                    totp_secret=None if totp_key is None else totp_key.secret,
                    step=30 if totp_key is None else totp_key.time_interval or 30,
                    digits=6 if totp_key is None else totp_key.digits or 6,
                    algorithm=HashAlgorithm.SHA1 if totp_key is None else _hash_of(totp_key.suite),
                )
            else:
                raise InvalidDocument(f"device {serial!r}: the keys do not make a {kind.value}")
        except InvalidDocument:
            raise
        except InvalidParameter as e:
            raise InvalidDocument(f"device {serial!r}: {e}") from e
        devices.append(device)
    return devices


def export_devices(
    devices: Sequence[Provisioning],
    *,
    key: bytes | None = None,
    passphrase: str | None = None,
    iterations: int = 100_000,
) -> bytes:
    """Write devices as a PSKC document (see :func:`write_pskc` for the protection)."""
    keys = [item for device in devices for item in to_pskc_keys(device)]
    return write_pskc(keys, key=key, passphrase=passphrase, iterations=iterations)


def import_devices(
    data: bytes, *, key: bytes | None = None, passphrase: str | None = None
) -> list[Provisioning]:
    """Read devices from a PSKC document; all of them or, on any error, none.

    Raises:
        InvalidDocument: see :func:`read_pskc` and :func:`from_pskc_keys`.
    """
    return from_pskc_keys(read_pskc(data, key=key, passphrase=passphrase))
