"""The two printed code cards: values, answers, the text and SVG prints, dates."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokensim.emulators import KEYS, create, load
from tokensim.emulators.devices.online_scc import VALIDITY_DAYS, OnlineSecurityCodeCard
from tokensim.emulators.devices.scc import SecurityCodeCard
from tokensim.emulators.printed_card import COLUMNS
from tokensim.protocol import (
    CELL_COUNT,
    CardKind,
    CodeCard,
    DeviceKind,
    FixedClock,
    InvalidCode,
    InvalidParameter,
    Provisioning,
)

SECRET = bytes(range(16))
ISSUED = datetime(2024, 3, 1, 12, tzinfo=UTC).timestamp()
SVG = "{http://www.w3.org/2000/svg}"


def scc(serial: str = "SCC-0042") -> SecurityCodeCard:
    return SecurityCodeCard(Provisioning(kind=DeviceKind.SCC, serial=serial, secret=SECRET))


def online(clock: FixedClock | None = None, expires_at: float | None = None) -> OnlineSecurityCodeCard:
    provisioning = Provisioning(
        kind=DeviceKind.ONLINE_SCC, serial="OSC-7", secret=SECRET, issued_at=ISSUED, expires_at=expires_at
    )
    return OnlineSecurityCodeCard(provisioning, clock=clock)


def test_values_and_answers_are_the_protocol_card() -> None:
    card = scc()
    model = CodeCard(SECRET, CardKind.SECURITY_CODE_CARD)
    assert [card.value(i) for i in range(1, CELL_COUNT + 1)] == [v for _, v in model.table()]
    answer = card.answer([100, 50])
    assert answer == model.value(100) + model.value(50)
    model.check_answer((100, 50), answer)
    with pytest.raises(InvalidCode):
        model.check_answer((50, 100), card.answer([100, 51]))


@pytest.mark.parametrize("bad", [[0, 1], [1, CELL_COUNT + 1], [7, 7]])
def test_answers_for_impossible_indices_are_refused(bad: list[int]) -> None:
    with pytest.raises(InvalidParameter):
        scc().answer(bad)


def test_online_card_cells_are_three_digits_and_differ_from_the_permanent_card() -> None:
    card = online()
    values = [card.value(i) for i in range(1, CELL_COUNT + 1)]
    assert all(len(v) == 3 and v.isdigit() for v in values)
    assert values == [v for _, v in CodeCard(SECRET, CardKind.ONLINE).table()]


def test_the_text_print_has_the_serial_and_every_cell_once() -> None:
    card = scc()
    text = card.render_text()
    lines = text.splitlines()
    assert lines[0] == "SECURITY CODE CARD"
    assert lines[1] == "Serial SCC-0042"
    assert lines[2] == ""
    pairs = [cell.split() for line in lines[3:] for cell in line.split("   ")]
    assert len(lines[3:]) == -(-CELL_COUNT // COLUMNS)
    assert sorted((int(i), v) for i, v in pairs) == card.card.table()
    # Indices run down each column: the second row starts with index 2.
    assert lines[4].split()[0] == "2"
    assert card.screen == text


def test_the_svg_print_is_well_formed_and_carries_every_value() -> None:
    card = scc("SCC-<&>")
    root = ET.fromstring(card.render_svg().split("\n", 1)[1])  # noqa: S314 - our own output
    assert root.tag == f"{SVG}svg"
    assert root.get("width", "").endswith("mm")
    assert float(root.get("width", "0")[:-2]) <= 190  # fits an A4 page in portrait with margins
    texts = root.findall(f"{SVG}text")
    assert "Serial SCC-<&>" in [t.text for t in texts]
    cells = {
        int(t.get("data-index", "0")): "".join(t.itertext()).split()[1] for t in texts if t.get("data-index")
    }
    assert cells == dict(card.card.table())
    assert root.find(f"{SVG}title") is not None


def test_online_card_prints_issue_and_expiry_dates() -> None:
    card = online()
    assert card.expires_at == ISSUED + VALIDITY_DAYS * 86400
    dates = "Issued 2024-03-01 12:00 UTC   Expires 2024-03-22 12:00 UTC"
    assert card.render_text().splitlines()[:3] == ["ONLINE SECURITY CODE CARD", "Serial OSC-7", dates]
    assert dates in card.render_svg()


def test_online_card_expiry_from_the_provisioning_and_the_clock() -> None:
    clock = FixedClock(ISSUED)
    card = online(clock, expires_at=ISSUED + 3600)
    assert not card.expired
    assert "Expires 2024-03-01 13:00 UTC" in card.render_text()
    clock.advance(3599)
    assert not card.expired
    clock.advance(1)
    assert card.expired


@pytest.mark.parametrize(("issued", "expires"), [(None, None), (ISSUED, ISSUED), (ISSUED, ISSUED - 1)])
def test_online_card_needs_an_issue_date_before_its_expiry(
    issued: float | None, expires: float | None
) -> None:
    provisioning = Provisioning(
        kind=DeviceKind.ONLINE_SCC, serial="O", secret=SECRET, issued_at=issued, expires_at=expires
    )
    with pytest.raises(InvalidParameter):
        OnlineSecurityCodeCard(provisioning)


def test_a_card_secret_must_be_long_enough() -> None:
    with pytest.raises(InvalidParameter):
        SecurityCodeCard(Provisioning(kind=DeviceKind.SCC, serial="S", secret=bytes(8)))


def test_keys_change_nothing_on_a_printed_card() -> None:
    card = online()
    before = (card.save(), card.screen)
    for key in KEYS:
        card.press(key)
    assert (card.save(), card.screen) == before


@pytest.mark.parametrize("make", [scc, online])
def test_save_and_load_keep_the_card(make: object) -> None:
    card = make()  # type: ignore[operator]
    copy = load(json.loads(json.dumps(card.save())))
    assert type(copy) is type(card)
    assert copy.render_text() == card.render_text()
    assert copy.render_svg() == card.render_svg()


def test_create_picks_the_card_by_kind() -> None:
    assert isinstance(create(Provisioning(kind=DeviceKind.SCC, serial="S", secret=SECRET)), SecurityCodeCard)


@settings(max_examples=50, deadline=None)
@given(
    secret=st.binary(min_size=16, max_size=40),
    indices=st.lists(st.integers(1, CELL_COUNT), min_size=2, max_size=2, unique=True),
    is_online=st.booleans(),
)
def test_answers_equal_the_protocol_for_random_cards(
    secret: bytes, indices: list[int], is_online: bool
) -> None:
    kind = DeviceKind.ONLINE_SCC if is_online else DeviceKind.SCC
    card = create(Provisioning(kind=kind, serial="H", secret=secret, issued_at=ISSUED))
    assert isinstance(card, SecurityCodeCard | OnlineSecurityCodeCard)
    model = CodeCard(secret, CardKind.ONLINE if is_online else CardKind.SECURITY_CODE_CARD)
    assert card.answer(indices) == model.expected_answer(tuple(indices))
    model.check_answer(tuple(indices), card.answer(indices))
