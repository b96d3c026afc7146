"""Shared test machinery: the vector-file loader behind ``@pytest.mark.vectors``, pytester, and the
RFC 6030 schema (``pskc_schema``) that PSKC exports are validated against.

A test marked ``@pytest.mark.vectors("rfc4226_hotp.txt")`` with a ``vector`` argument runs once per
block of that file under ``tests/vectors/``; each block arrives as a ``dict`` of its ``Name = value``
lines.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

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


class _LocalSchemas:
    """Resolves the PSKC schema's imports (W3C URLs) to the copies in tests/vectors/pskc/, offline."""

    def __init__(self) -> None:
        from lxml import etree

        class Resolver(etree.Resolver):  # type: ignore[misc]
            def resolve(self, url: str | None, pubid: str | None, context: Any) -> Any:
                name = (url or "").rsplit("/", 1)[-1].strip()
                path = VECTORS / "pskc" / name
                return self.resolve_filename(str(path), context) if path.is_file() else None

        self.resolver = Resolver()


@pytest.fixture(scope="session")
def pskc_schema() -> Callable[[bytes], None]:
    """A checker of PSKC documents against RFC 6030's schema; raises AssertionError listing the errors.

    The XSD files are libpskc's (Debian's ``pskctool`` package), see tests/vectors/README.md.
    """
    from lxml import etree

    parser = etree.XMLParser(no_network=True, load_dtd=False, resolve_entities=True)
    parser.resolvers.add(_LocalSchemas().resolver)
    schema = etree.XMLSchema(etree.parse(str(VECTORS / "pskc" / "pskc-schema.xsd"), parser))

    def check(document: bytes) -> None:
        __tracebackhide__ = True
        tree = etree.fromstring(document, etree.XMLParser(no_network=True, resolve_entities=False))
        if not schema.validate(tree):
            errors = "\n".join(f"line {e.line}: {e.message}" for e in schema.error_log)
            raise AssertionError(f"not valid against the RFC 6030 schema:\n{errors}")

    return check
