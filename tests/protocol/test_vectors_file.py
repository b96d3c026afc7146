from __future__ import annotations

import pytest

from tokensim.protocol import InvalidDocument
from tokensim.protocol.vectors import parse_vectors


def test_blocks_comments_and_spacing() -> None:
    text = "# header\n\n A = 1 \nB=two words\n\n\n# between\nA = 3\n"
    assert parse_vectors(text) == [{"A": "1", "B": "two words"}, {"A": "3"}]


def test_a_line_without_equals_names_the_line() -> None:
    with pytest.raises(InvalidDocument, match="line 2"):
        parse_vectors("A = 1\nbroken\n", name="x.txt")


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(InvalidDocument, match="no vectors"):
        parse_vectors("# only a comment\n")
