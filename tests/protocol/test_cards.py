from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokensim.protocol import CELL_COUNT, CardKind, CodeCard, InvalidCode, InvalidParameter, normalize_answer

SECRET = bytes(range(16))


def test_a_card_has_224_cells_of_three_characters() -> None:
    card = CodeCard(SECRET)
    table = card.table()
    assert len(table) == CELL_COUNT == 224
    assert [index for index, _ in table] == list(range(1, 225))
    assert all(len(value) == 3 and value.isalnum() and value.upper() == value for _, value in table)
    # A fixed secret gives a fixed card; printed cards and the verifier must agree forever.
    assert card.value(1) == CodeCard(SECRET).value(1)


def test_online_card_values_are_digits() -> None:
    card = CodeCard(SECRET, CardKind.ONLINE)
    assert all(value.isdigit() and len(value) == 3 for _, value in card.table())


def test_cards_of_different_secrets_differ() -> None:
    one, other = CodeCard(SECRET).table(), CodeCard(bytes(16)).table()
    assert sum(a != b for a, b in zip(one, other, strict=True)) > 200


def test_cells_use_the_whole_alphabet() -> None:
    seen = {ch for _, value in CodeCard(SECRET).table() for ch in value}
    assert len(seen) > 30  # 672 characters drawn from 36 symbols


@pytest.mark.parametrize("index", [0, 225, -1])
def test_out_of_range_index_is_refused(index: int) -> None:
    with pytest.raises(InvalidParameter, match="index"):
        CodeCard(SECRET).value(index)


def test_short_secret_is_refused() -> None:
    with pytest.raises(InvalidParameter):
        CodeCard(bytes(15))


def test_draw_indices_is_distinct_and_follows_the_injected_rng() -> None:
    card = CodeCard(SECRET)
    first = card.draw_indices(random.Random(7))
    assert first == card.draw_indices(random.Random(7))
    assert len(set(first)) == 2
    assert all(1 <= i <= 224 for i in first)
    draws = {card.draw_indices(random.Random(seed)) for seed in range(50)}
    assert len(draws) > 45


def test_answer_tolerates_case_and_white_space() -> None:
    card = CodeCard(SECRET)
    indices = (100, 50)
    expected = card.expected_answer(indices)
    card.check_answer(indices, expected)
    spaced = f"  {expected[:3].lower()} \t{expected[3:]}\n"
    card.check_answer(indices, spaced)
    assert normalize_answer(spaced) == expected


def test_answer_in_the_wrong_order_is_refused() -> None:
    card = CodeCard(SECRET)
    answer = card.expected_answer((100, 50))
    if answer[:3] != answer[3:]:
        with pytest.raises(InvalidCode):
            card.check_answer((100, 50), answer[3:] + answer[:3])


def test_repeated_index_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="distinct"):
        CodeCard(SECRET).expected_answer((5, 5))


def test_non_ascii_answer_is_simply_wrong() -> None:
    with pytest.raises(InvalidCode):
        CodeCard(SECRET).check_answer((1, 2), "ÄÖÜßé€")


@given(
    secret=st.binary(min_size=16, max_size=32),
    kind=st.sampled_from(list(CardKind)),
    seed=st.integers(),
    position=st.integers(min_value=0, max_value=5),
    replacement=st.characters(categories=["Lu", "Ll", "Nd"], max_codepoint=127),
)
def test_answers_verify_and_every_one_character_change_is_refused(
    secret: bytes, kind: CardKind, seed: int, position: int, replacement: str
) -> None:
    card = CodeCard(secret, kind)
    indices = card.draw_indices(random.Random(seed))
    answer = card.expected_answer(indices)
    card.check_answer(indices, answer)
    if replacement.upper() == answer[position]:
        return  # the same character in another case is the same answer
    changed = answer[:position] + replacement + answer[position + 1 :]
    with pytest.raises(InvalidCode):
        card.check_answer(indices, changed)
