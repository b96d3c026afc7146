"""What the server hands a device when it is enrolled, and what an IB Key app sends back to activate.

These are the wire values between the verification server and the devices (emulated, or a board
over the serial bridge). Each has an explicit JSON mapping; secrets travel as lowercase hex.

Device kinds and the fields each one uses:

=============  ============================================  =================================================
kind           device                                        fields used
=============  ============================================  =================================================
``scc``        Security Code Card                            serial, secret
``online-scc`` Online Security Code Card                     serial, secret, issued_at, expires_at
``dsc``        Digital Security Card (legacy)                serial, secret, pin, digits, step, algorithm
``dsc-plus``   DSC+                                          serial, secret, suite, firmware
``gold``       Gold (legacy)                                 serial, secret, suite
``platinum``   Platinum (legacy)                             serial, secret, suite
``ib-key``     IB Key app registration (see IbKeyActivation) serial, secret (OCRA), suite, totp_secret,
                                                             digits, step, algorithm
``phone``      a phone for SMS and voice                     serial, number
=============  ============================================  =================================================

``pin`` is only for the DSC, whose PIN is checked on the device; a DSC+ never holds its PIN (it is
folded into the response and checked by the server).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tokensim.protocol.errors import InvalidParameter
from tokensim.protocol.ocra import OcraSuite
from tokensim.protocol.otp import HashAlgorithm

__all__ = [
    "DEFAULT_SUITES",
    "DeviceKind",
    "IbKeyActivation",
    "Provisioning",
]


class DeviceKind(enum.Enum):
    """Every kind of device; the values are the wire names."""

    SCC = "scc"
    ONLINE_SCC = "online-scc"
    DSC = "dsc"
    DSC_PLUS = "dsc-plus"
    GOLD = "gold"
    PLATINUM = "platinum"
    IB_KEY = "ib-key"
    PHONE = "phone"


#: The OCRA suite of each challenge-response kind. Every one is tokensim's emulation choice: the
#: vendor's algorithms are not published.
DEFAULT_SUITES: Mapping[DeviceKind, str] = {
    DeviceKind.DSC_PLUS: "OCRA-1:HOTP-SHA1-8:QN06-PSHA1",
    DeviceKind.GOLD: "OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1",
    DeviceKind.PLATINUM: "OCRA-1:HOTP-SHA512-8:QN08-PSHA256-T1M",
    DeviceKind.IB_KEY: "OCRA-1:HOTP-SHA256-8:QN06",
}


def _hex(value: object, name: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidParameter(f"provisioning: {name!r} must be a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError as e:
        raise InvalidParameter(f"provisioning: {name!r} is not hex") from e


def _optional(obj: Mapping[str, Any], key: str, kind: type) -> Any:
    value = obj.get(key)
    if value is None:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidParameter(f"provisioning: {key!r} has the wrong type")
    return value


@dataclass(frozen=True, slots=True)
class Provisioning:
    """Everything one device needs to work; see the module docstring for which kind uses what.

    Attributes:
        kind: the device kind.
        serial: the serial number printed on the device.
        secret: the main secret (card secret, TOTP or OCRA key); empty for a phone.
        suite: the OCRA suite, for challenge-response kinds.
        pin: the PIN a DSC checks on the device.
        digits: code length for TOTP kinds.
        step: time step in seconds for TOTP kinds.
        algorithm: HMAC hash for TOTP kinds.
        totp_secret: the IB Key's time-based code secret.
        issued_at: Unix time the online card was issued.
        expires_at: Unix time the online card expires.
        firmware: ``"current"`` or ``"legacy"`` DSC+ firmware (prompts and display differ).
        number: the phone number, for a phone.
    """

    kind: DeviceKind
    serial: str
    secret: bytes = b""
    suite: str | None = None
    pin: str | None = None
    digits: int = 6
    step: int = 30
    algorithm: HashAlgorithm = HashAlgorithm.SHA1
    totp_secret: bytes | None = None
    issued_at: float | None = None
    expires_at: float | None = None
    firmware: str = "current"
    number: str | None = None

    def __post_init__(self) -> None:
        if self.suite is not None:
            OcraSuite.parse(self.suite)
        if self.firmware not in ("current", "legacy"):
            raise InvalidParameter("provisioning: firmware must be 'current' or 'legacy'")

    def to_json(self) -> dict[str, Any]:
        """The JSON object; fields that do not apply (``None``) are left out."""
        data: dict[str, Any] = {
            "kind": self.kind.value,
            "serial": self.serial,
            "secret": self.secret.hex(),
            "digits": self.digits,
            "step": self.step,
            "algorithm": self.algorithm.value,
            "firmware": self.firmware,
        }
        optional = {
            "suite": self.suite,
            "pin": self.pin,
            "totp_secret": None if self.totp_secret is None else self.totp_secret.hex(),
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
            "number": self.number,
        }
        data.update({key: value for key, value in optional.items() if value is not None})
        return data

    @classmethod
    def from_json(cls, data: object) -> Provisioning:
        """Read provisioning data from its JSON object.

        Raises:
            InvalidParameter: a key is missing, of the wrong type, or out of range.
        """
        if not isinstance(data, Mapping):
            raise InvalidParameter("provisioning: expected a JSON object")
        try:
            kind = DeviceKind(data.get("kind"))
        except ValueError as e:
            raise InvalidParameter(f"provisioning: unknown kind {data.get('kind')!r}") from e
        serial = data.get("serial")
        if not isinstance(serial, str) or not serial:
            raise InvalidParameter("provisioning: 'serial' must be a non-empty string")
        totp_secret = data.get("totp_secret")
        return cls(
            kind=kind,
            serial=serial,
            secret=_hex(data.get("secret", ""), "secret"),
            suite=_optional(data, "suite", str),
            pin=_optional(data, "pin", str),
            digits=_optional(data, "digits", int) or 6,
            step=_optional(data, "step", int) or 30,
            algorithm=HashAlgorithm.parse(_optional(data, "algorithm", str) or "SHA1"),
            totp_secret=None if totp_secret is None else _hex(totp_secret, "totp_secret"),
            issued_at=_optional(data, "issued_at", float),
            expires_at=_optional(data, "expires_at", float),
            firmware=_optional(data, "firmware", str) or "current",
            number=_optional(data, "number", str),
        )

    def __repr__(self) -> str:
        # Secrets and PINs never reach a log through a repr.
        return f"Provisioning(kind={self.kind.value!r}, serial={self.serial!r})"


@dataclass(frozen=True, slots=True)
class IbKeyActivation:
    """What an IB Key app sends to the server to activate one user.

    Attributes:
        username: the user being added to the app.
        token: the activation token the user received by SMS.
        public_key: the registration's ECDSA P-256 public key, SubjectPublicKeyInfo PEM.
        device_name: a label for the phone.
    """

    username: str
    token: str
    public_key: str
    device_name: str = "phone"

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this activation request."""
        return {
            "username": self.username,
            "token": self.token,
            "public_key": self.public_key,
            "device_name": self.device_name,
        }

    @classmethod
    def from_json(cls, data: object) -> IbKeyActivation:
        """Read an activation request.

        Raises:
            InvalidParameter: a key is missing or not a string.
        """
        if not isinstance(data, Mapping):
            raise InvalidParameter("activation: expected a JSON object")
        values = {}
        for key in ("username", "token", "public_key"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise InvalidParameter(f"activation: {key!r} must be a non-empty string")
            values[key] = data[key]
        device_name = data.get("device_name", "phone")
        if not isinstance(device_name, str):
            raise InvalidParameter("activation: 'device_name' must be a string")
        return cls(device_name=device_name, **values)

    def __repr__(self) -> str:
        return f"IbKeyActivation(username={self.username!r}, device_name={self.device_name!r})"
