"""The frame decoder under fuzzing: it never raises, and never delivers a frame that was not sent.

Hypothesis builds streams of valid frames mixed with garbage, burst errors and arbitrary chunking;
atheris (coverage-guided, where it installs) feeds raw bytes in a subprocess for a bounded number
of runs. CRC-16/CCITT detects every error burst of up to 16 bits, so a frame hit by one is dropped
for certain, never delivered.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import pytest
from cobs import cobs
from hypothesis import given, settings
from hypothesis import strategies as st

from tokensim.protocol.framing import (
    FRAME_VERSION,
    MAX_FRAME,
    MAX_PAYLOAD,
    Frame,
    FrameDecoder,
    FrameType,
    crc16,
    encode_frame,
)

frames = st.builds(
    Frame,
    seq=st.integers(0, 255),
    type=st.sampled_from(list(FrameType)),
    payload=st.binary(max_size=MAX_PAYLOAD),
)


def _raw(frame: Frame) -> bytes:
    """The frame before COBS: header, payload and CRC."""
    encoded = encode_frame(frame)
    return cobs.decode(encoded[:-1])


def _check_sound(frame: Frame, stream: bytes) -> None:
    """A delivered frame is well formed and its exact encoding was in the stream."""
    assert frame.version == FRAME_VERSION
    assert len(frame.payload) <= MAX_PAYLOAD
    encoded = encode_frame(frame)
    assert len(encoded) <= MAX_FRAME
    assert encoded in stream
    raw = cobs.decode(encoded[:-1])
    assert crc16(raw[:-2]) == int.from_bytes(raw[-2:], "big")


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary(max_size=2000), st.lists(st.integers(1, 64), min_size=1, max_size=20))
def test_arbitrary_bytes_in_arbitrary_chunks_never_raise_or_deliver_garbage(
    data: bytes, cuts: list[int]
) -> None:
    decoder = FrameDecoder()
    delivered: list[Frame] = []
    position, turn = 0, 0
    while position < len(data):
        size = cuts[turn % len(cuts)]
        delivered += decoder.feed(data[position : position + size])
        position, turn = position + size, turn + 1
    for frame in delivered:
        _check_sound(frame, data)
    assert decoder.frames == len(delivered)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    frame=frames,
    data=st.data(),
)
def test_a_burst_error_of_up_to_16_bits_is_never_delivered(frame: Frame, data: st.DataObject) -> None:
    raw = bytearray(_raw(frame))
    bits = len(raw) * 8
    length = data.draw(st.integers(1, min(16, bits)), label="burst length")
    start = data.draw(st.integers(0, bits - length), label="burst start")
    # A burst: its first and last bits flip, the bits between flip or not.
    inner = data.draw(st.integers(0, max(0, 2 ** max(0, length - 2) - 1)), label="inner bits")
    pattern = 1 | (1 << (length - 1)) | (inner << 1 if length > 2 else 0)
    for offset in range(length):
        if pattern >> offset & 1:
            position = start + offset
            raw[position // 8] ^= 0x80 >> (position % 8)
    damaged = cobs.encode(bytes(raw)) + b"\x00"
    decoder = FrameDecoder()
    good = encode_frame(Frame(seq=(frame.seq + 1) % 256, type=FrameType.HELLO, payload=b"ok"))
    delivered = decoder.feed(damaged + good)
    assert [f.payload for f in delivered] == [b"ok"]  # the damaged one dropped, the next one read
    assert decoder.dropped == 1


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    sent=st.lists(frames, min_size=1, max_size=8),
    garbage=st.lists(st.binary(min_size=1, max_size=80), max_size=8),
)
def test_frames_between_garbage_arrive_in_order_once_resynchronised(
    sent: list[Frame], garbage: list[bytes]
) -> None:
    stream = b""
    for index, frame in enumerate(sent):
        if index < len(garbage):
            stream += garbage[index] + b"\x00"  # garbage always ends at a delimiter before a frame
        stream += encode_frame(frame)
    delivered = FrameDecoder().feed(stream)
    for frame in delivered:
        _check_sound(frame, stream)
    remaining = iter(delivered)
    assert all(any(got == frame for got in remaining) for frame in sent)  # every frame, in order
    assert len(delivered) - len(sent) <= sum(piece.count(0) + 1 for piece in garbage)


_ATHERIS_TARGET = textwrap.dedent(
    """
    import sys

    import atheris

    with atheris.instrument_imports():
        from tokensim.protocol.framing import MAX_FRAME, MAX_PAYLOAD, FrameDecoder, encode_frame

    def one_input(data: bytes) -> None:
        decoder = FrameDecoder()
        for frame in decoder.feed(data):
            encoded = encode_frame(frame)
            if len(frame.payload) > MAX_PAYLOAD or len(encoded) > MAX_FRAME or encoded not in data:
                raise AssertionError(f"bad frame delivered: {frame!r}")

    atheris.Setup([sys.argv[0], "-runs=20000", "-max_len=512", "-seed=1"], one_input)
    atheris.Fuzz()
    """
)


def test_atheris_finds_no_crash_and_no_bad_frame() -> None:
    if importlib.util.find_spec("atheris") is None:
        reason = f"atheris is not installed for Python {sys.version.split()[0]} (pip install atheris)"
        print(reason)
        pytest.skip(reason)
    result = subprocess.run(
        [sys.executable, "-c", _ATHERIS_TARGET], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done 20000 runs" in result.stderr
