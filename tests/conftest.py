"""Shared test machinery: the vector-file loader behind ``@pytest.mark.vectors``, and pytester.

A test marked ``@pytest.mark.vectors("rfc4226_hotp.txt")`` with a ``vector`` argument runs once per
block of that file under ``tests/vectors/``; each block arrives as a ``dict`` of its ``Name = value``
lines.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tokensim.protocol.vectors import parse_vectors

#: pytester runs small test files in a temporary folder (the tokensim plugin's own tests use it).
pytest_plugins = ["pytester"]

VECTORS = Path(__file__).resolve().parent / "vectors"


def load_vectors(name: str) -> list[dict[str, str]]:
    """Read the blocks of a vector file (see tests/vectors/README.md)."""
    return parse_vectors((VECTORS / name).read_text(encoding="utf-8"), name=name)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "vectors(file, **filters): run the test once per block of tests/vectors/<file>"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("vectors")
    if marker is None:
        return
    if "vector" not in metafunc.fixturenames:
        raise pytest.UsageError(f"{metafunc.definition.name}: @vectors needs a 'vector' argument")
    # Keyword arguments filter the blocks: @vectors("rfc6287_ocra.txt", Mode="one-way").
    blocks = [
        block
        for block in load_vectors(marker.args[0])
        if all(block.get(key) == value for key, value in marker.kwargs.items())
    ]
    metafunc.parametrize("vector", blocks, ids=[f"{marker.args[0]}:{i}" for i in range(len(blocks))])
