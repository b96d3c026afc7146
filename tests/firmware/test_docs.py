"""The firmware notes and the C header say what protocol/wire.py says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tokensim.protocol import framing, wire

ROOT = Path(__file__).resolve().parents[2]
NOTES = ROOT / "firmware-notes"
BEGIN = "<!-- BEGIN GENERATED"
END = "<!-- END GENERATED -->"


def test_the_wire_protocol_reference_is_generated_from_the_code() -> None:
    text = (NOTES / "wire-protocol.md").read_text(encoding="utf-8")
    start = text.index("\n", text.index(BEGIN)) + 1
    generated = text[start : text.index(END)]
    # To update: replace the block with the output of the command in its BEGIN comment.
    assert generated == wire.describe_markdown()


def _defines() -> dict[str, int]:
    header = (NOTES / "tsim" / "src" / "tsim.h").read_text(encoding="utf-8")
    return {
        name: int(value, 0)
        for name, value in re.findall(r"^#define (TSIM_\w+) (0x[0-9A-Fa-f]+|\d+)u?\b", header, re.MULTILINE)
    }


def test_the_c_header_has_the_wire_constants() -> None:
    defines = _defines()
    expected = {
        "TSIM_PROTOCOL_MAJOR": wire.PROTOCOL_MAJOR,
        "TSIM_PROTOCOL_MINOR": wire.PROTOCOL_MINOR,
        "TSIM_FRAME_VERSION": framing.FRAME_VERSION,
        "TSIM_MAX_FRAME": framing.MAX_FRAME,
        "TSIM_HEADER_SIZE": framing.HEADER_SIZE,
        "TSIM_MAX_PAYLOAD": framing.MAX_PAYLOAD,
        "TSIM_MIN_SECRET": wire.MIN_SECRET,
        "TSIM_MAX_SECRET": wire.MAX_SECRET,
        "TSIM_MAX_PIN": wire.MAX_PIN,
        "TSIM_MAX_CHALLENGE": wire.MAX_CHALLENGE,
        "TSIM_MAX_BOARD_ID": wire.MAX_BOARD_ID,
        "TSIM_SUITE_CODE_SIZE": wire.SUITE_CODE_SIZE,
        "TSIM_UNSOLICITED_SEQ": wire.UNSOLICITED_SEQ,
    }
    assert {name: defines.get(name) for name in expected} == expected


@pytest.mark.parametrize(
    ("prefix", "members"),
    [
        ("TSIM_T_", {m.name: m.value for m in framing.FrameType}),
        ("TSIM_E_", {m.name: m.value for m in wire.ErrorCode if m is not wire.ErrorCode.UNKNOWN}),
        ("TSIM_CAP_", {m.name: m.value for m in wire.Capability}),
        ("TSIM_MODE_", {m.name: m.value for m in wire.Mode}),
        ("TSIM_LOG_", {m.name: m.value for m in wire.LogLevel}),
    ],
)
def test_the_c_header_has_every_code(prefix: str, members: dict[str, int]) -> None:
    defines = _defines()
    in_header = {
        name.removeprefix(prefix): value for name, value in defines.items() if name.startswith(prefix)
    }
    in_header.pop("OK", None)  # the C side's "no error"
    assert in_header == members


def test_the_notes_point_at_the_vector_files_instead_of_copying_them() -> None:
    for name in ("README.md", "wire-protocol.md"):
        text = (NOTES / name).read_text(encoding="utf-8")
        assert "tests/vectors/rfc6287_ocra.txt" in text
        assert "237653" not in text  # no RFC 6287 answer copied in
