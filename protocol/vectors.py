"""Reading test-vector files: ``# comments`` then blocks of ``Name = value`` lines.

The project's vectors live in ``tests/vectors/`` (see the README there); the tests and ``tokensim
board check`` read them through :func:`parse_vectors`, which takes the text, so this module stays pure.

Example:
    >>> parse_vectors("# HOTP\\nCounter = 0\\nOTP = 755224\\n\\nCounter = 1\\nOTP = 287082\\n")
    [{'Counter': '0', 'OTP': '755224'}, {'Counter': '1', 'OTP': '287082'}]
"""

from __future__ import annotations

from tokensim.protocol.errors import InvalidDocument

__all__ = ["parse_vectors"]


def parse_vectors(text: str, *, name: str = "vector file") -> list[dict[str, str]]:
    """Split a vector file's text into its blocks, each a ``dict`` of its ``Name = value`` lines.

    Raises:
        InvalidDocument: a line has no ``=``, or the file holds no block.
    """
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("#"):
            continue
        if not line:
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise InvalidDocument(f"{name}, line {number}: expected 'Name = value', got {line!r}")
        current[key.strip()] = value.strip()
    if current:
        blocks.append(current)
    if not blocks:
        raise InvalidDocument(f"{name}: no vectors")
    return blocks
