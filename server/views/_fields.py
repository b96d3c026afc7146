"""Reading the JSON fields of a view: an object, and the optional numbers and strings it holds.

Every ``from_json`` of the views reads through these, so a malformed answer from the server is an
:class:`~tokensim.protocol.errors.InvalidParameter`, the same wherever it came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokensim.protocol.errors import InvalidParameter

__all__ = ["json_object", "opt_float", "opt_str"]


def json_object(data: object, what: str) -> Mapping[str, Any]:
    """``data`` as a JSON object.

    Raises:
        InvalidParameter: ``data`` is not an object (``what`` names it in the message).
    """
    if not isinstance(data, Mapping):
        raise InvalidParameter(f"{what}: expected a JSON object")
    return data


def opt_float(value: Any) -> float | None:
    """A number that may be ``null``."""
    return None if value is None else float(value)


def opt_str(value: Any) -> str | None:
    """A string that may be ``null``."""
    return None if value is None else str(value)
