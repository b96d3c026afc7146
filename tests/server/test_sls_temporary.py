"""Temporary access and device replacement: temporary passcode, online card, reactivation, reserves."""

from __future__ import annotations

import re

import pytest

from tokensim.emulators import create
from tokensim.emulators.printed_card import PrintedCard
from tokensim.protocol.clock import FixedClock
from tokensim.server.cli.login import interactive_login
from tokensim.server.client import TokensimClient
from tokensim.server.testing.harness import Enrolled, Harness
from tokensim.server.verify import FULL_SCOPE

from .conftest import PASSWORD
from .sls_helpers import problem, session, static_login, temporary_passcode

DAY = 86400.0


def _kinds(client: TokensimClient, username: str) -> list[tuple[str, str]]:
    return [(d.kind, d.status) for d in client.user(username).devices]


def test_a_temporary_passcode_needs_a_recorded_identity_check_used_once(
    client: TokensimClient, clock: FixedClock, alice: str
) -> None:
    missing = problem(lambda: client.issue_temporary_passcode(alice, verification_id="nothing"))
    assert (missing.status, missing.code) == (403, "identity-check-required")
    check = client.verify_identity(alice, method="phone-questions", agent="agent-7")
    assert check.expires_at == check.created_at + 900
    clock.advance(900)  # exactly at its end, the check no longer counts
    late = problem(lambda: client.issue_temporary_passcode(alice, verification_id=check.id))
    assert late.code == "identity-check-required"
    check = client.verify_identity(alice, method="id-document", agent="agent-7")
    clock.advance(899)
    issued = client.issue_temporary_passcode(alice, verification_id=check.id)
    assert issued.passcode is not None
    assert re.fullmatch(r"[A-Z0-9]{12}", issued.passcode)
    reused = problem(lambda: client.issue_temporary_passcode(alice, verification_id=check.id))
    assert reused.code == "identity-check-required"
    events = [e.event for e in client.audit(username=alice)]
    assert events.count("identity.verified") == 2


def test_a_temporary_passcode_has_at_least_ten_characters(client: TokensimClient, alice: str) -> None:
    check = client.verify_identity(alice, method="phone-questions", agent="agent-7")
    assert problem(
        lambda: client.issue_temporary_passcode(alice, verification_id=check.id, length=9)
    ).code == ("invalid-request")
    issued = client.issue_temporary_passcode(alice, verification_id=check.id, length=10)
    assert issued.passcode is not None
    assert len(issued.passcode) == 10


def test_full_access_for_two_days_then_card_printing_for_eight(
    client: TokensimClient, clock: FixedClock, alice: str
) -> None:
    device_id, passcode = temporary_passcode(client, alice)
    clock.advance(2 * DAY - 1)
    assert static_login(client, alice, device_id, passcode).scope == FULL_SCOPE
    clock.advance(1)  # exactly two days
    grant = static_login(client, alice, device_id, passcode)
    assert grant.scope == ("card-printing",)
    assert problem(lambda: client.withdraw(grant.token, "1.00")).code == "insufficient-scope"
    assert problem(lambda: client.opt_out(grant.token)).code == "insufficient-scope"
    card = client.online_card(grant.token)  # what the card-printing stage is for
    assert card.card is not None
    clock.advance(8 * DAY - 1)  # one second before ten days
    assert static_login(client, alice, device_id, passcode).scope == ("card-printing",)
    clock.advance(1)
    started = client.login(alice, PASSWORD)
    assert device_id not in [d.id for d in started.devices]
    assert problem(lambda: client.challenge(started.login_id, device_id)).code == "device-unavailable"


def test_never_two_temporary_passcodes_in_a_row(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    card = harness.enroll(alice, "scc")
    phone = harness.enroll(alice, "phone")
    clock.advance(1)
    temporary_passcode(client, alice)
    check = client.verify_identity(alice, method="phone-questions", agent="agent-7")
    second = problem(lambda: client.issue_temporary_passcode(alice, verification_id=check.id))
    assert (second.status, second.code) == (409, "consecutive-temporary-passcode")
    assert "physical" in second.detail
    # SMS reactivated: temporary access ends, but protection is not restored by a physical device.
    clock.advance(1)
    challenge = client.start_activation(phone.device_id, mode="sms")
    client.finish_activation(phone.device_id, challenge.id, harness.answer(phone, challenge))
    assert [s for k, s in _kinds(client, alice) if k == "temporary"] == ["revoked"]
    assert problem(lambda: client.issue_temporary_passcode(alice, verification_id=check.id)).code == (
        "consecutive-temporary-passcode"
    )
    # Support reactivating the card (a physical device) with its answer allows the next one.
    challenge = client.start_activation(card.device_id)
    client.finish_activation(card.device_id, challenge.id, harness.answer(card, challenge))
    assert client.issue_temporary_passcode(alice, verification_id=check.id).passcode is not None


def test_an_ib_key_does_not_restore_protection_for_a_next_temporary_passcode(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    ib_key = harness.enroll(alice, "ib-key")
    clock.advance(1)
    device_id, passcode = temporary_passcode(client, alice)
    token = static_login(client, alice, device_id, passcode).token
    clock.advance(1)
    challenge = client.activate(token, ib_key.device_id)  # the misplaced phone answers again
    client.activate_answer(token, ib_key.device_id, challenge.id, harness.answer(ib_key, challenge))
    check = client.verify_identity(alice, method="phone-questions", agent="agent-7")
    refused = problem(lambda: client.issue_temporary_passcode(alice, verification_id=check.id))
    assert refused.code == "consecutive-temporary-passcode"
    card = client.enroll(alice, "scc")  # a physical device, mailed and activated
    assert card.provisioning is not None
    enrolled = Enrolled(alice, "scc", card.device.id, create(card.provisioning), None, card)
    clock.advance(1)
    challenge = client.start_activation(card.device.id)
    client.finish_activation(card.device.id, challenge.id, harness.answer(enrolled, challenge))
    assert client.issue_temporary_passcode(alice, verification_id=check.id).passcode is not None


def test_reactivation_needs_the_devices_answer_and_ends_temporary_access(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    dsc_plus = harness.enroll(alice, "dsc-plus")
    device_id, passcode = temporary_passcode(client, alice)
    # The misplaced device is pending until it answers again.
    assert _kinds(client, alice) == [("dsc-plus", "pending"), ("temporary", "active")]
    started = client.login(alice, PASSWORD)
    assert [(d.kind, d.status) for d in started.devices] == [("temporary", "active"), ("dsc-plus", "pending")]
    token = static_login(client, alice, device_id, passcode).token
    online = client.online_card(token)
    assert online.provisioning is not None
    printed = create(online.provisioning)
    assert isinstance(printed, PrintedCard)
    challenge = client.activate(token, online.device.id)
    assert len(challenge.challenge.indices) == 2  # the two-index challenge
    client.activate_answer(token, online.device.id, challenge.id, printed.answer(challenge.challenge.indices))
    challenge = client.activate(token, dsc_plus.device_id)
    wrong = problem(lambda: client.activate_answer(token, dsc_plus.device_id, challenge.id, "00000000"))
    assert wrong.code == "wrong-answer"
    assert _kinds(client, alice)[0] == ("dsc-plus", "pending")
    client.activate_answer(token, dsc_plus.device_id, challenge.id, harness.answer(dsc_plus, challenge))
    assert _kinds(client, alice) == [
        ("dsc-plus", "active"),
        ("temporary", "revoked"),
        ("online-scc", "revoked"),
    ]
    assert session(harness, alice, dsc_plus)


def test_the_online_card_gives_full_access_for_21_days(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    card = harness.enroll(alice, "scc")
    token = session(harness, alice, card)
    online = client.online_card(token)  # from a portal session: enrolling without IB Key
    assert online.card is not None
    assert online.card.expires_at == online.card.issued_at + 21 * DAY  # type: ignore[operator]
    assert online.provisioning is not None
    enrolled = Enrolled(alice, "online-scc", online.device.id, create(online.provisioning), None, online)
    challenge = client.activate(token, online.device.id)
    client.activate_answer(token, online.device.id, challenge.id, harness.answer(enrolled, challenge))
    clock.advance(21 * DAY - 1)
    assert harness.login(alice, PASSWORD, enrolled).grant.scope == FULL_SCOPE
    clock.advance(1)
    started = client.login(alice, PASSWORD)
    assert [d.kind for d in started.devices] == ["scc"]
    # A new card replaces an older one.
    token = session(harness, alice, card)
    client.online_card(token)
    assert [s for k, s in _kinds(client, alice) if k == "online-scc"] == ["revoked", "pending"]


@pytest.mark.parametrize(
    ("kind", "condition", "reserved", "fee"),
    [
        ("dsc-plus", "lost", "0.00", "20.00"),
        ("dsc", "damaged", "0.00", "20.00"),
        ("gold", "stolen", "0.00", "150.00"),
        ("platinum", "not-returned", "0.00", "150.00"),
        ("dsc-plus", "battery", "0.00", "0.00"),
        ("gold", "returned", "0.00", "0.00"),
        ("scc", "lost", "0.00", "20.00"),
    ],
)
def test_reserves_are_held_at_issue_and_charged_or_released(
    client: TokensimClient, harness: Harness, alice: str, kind: str, condition: str, reserved: str, fee: str
) -> None:
    device = harness.enroll(alice, kind)
    held = {"dsc-plus": "20.00", "dsc": "20.00", "gold": "150.00", "platinum": "150.00", "scc": "20.00"}[kind]
    assert (client.user(alice).reserved_usd, client.user(alice).fees_charged_usd) == (held, "0.00")
    reported = client.report(device.device_id, condition)
    assert (reported.status, reported.condition) == ("revoked", condition)
    user = client.user(alice)
    assert (user.reserved_usd, user.fees_charged_usd) == (reserved, fee)
    assert problem(lambda: client.report(device.device_id, "misplaced")).code == "invalid-request"


def test_a_replacement_activates_within_14_days_or_by_itself(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    old = harness.enroll(alice, "dsc-plus")
    device_id, _passcode = temporary_passcode(client, alice)
    client.report(old.device_id, "lost")
    replacement = client.enroll(alice, "dsc-plus", pin="1234", replaces=old.device_id)
    assert replacement.device.activate_by == replacement.device.issued_at + 14 * DAY  # type: ignore[operator]
    clock.advance(10 * DAY - 1)
    pending = [(d.kind, d.status) for d in client.login(alice, PASSWORD).devices]
    assert pending == [("temporary", "active"), ("dsc-plus", "pending")]  # the login may activate it
    clock.advance(4 * DAY)  # one second before the 14 days: the passcode is over, the replacement pending
    assert [(d.kind, d.status) for d in client.login(alice, PASSWORD).devices] == [("dsc-plus", "pending")]
    clock.advance(1)
    started = client.login(alice, PASSWORD)
    assert [d.id for d in started.devices] == [replacement.device.id]
    statuses = {d.id: d.status for d in client.user(alice).devices}
    assert statuses[device_id] == "revoked"  # a replacement that became active ends temporary access
    assert (client.user(alice).reserved_usd, client.user(alice).fees_charged_usd) == ("20.00", "20.00")
    assert problem(lambda: client.enroll(alice, "scc", replaces="not-a-device")).code == "not-found"


def test_a_replacement_activated_by_its_answer_ends_temporary_access(
    client: TokensimClient, harness: Harness, alice: str
) -> None:
    old = harness.enroll(alice, "scc")
    temporary_passcode(client, alice)
    client.report(old.device_id, "damaged")
    enrollment = client.enroll(alice, "scc", replaces=old.device_id)
    assert enrollment.provisioning is not None
    new = Enrolled(alice, "scc", enrollment.device.id, create(enrollment.provisioning), None, enrollment)
    challenge = client.start_activation(new.device_id)
    client.finish_activation(new.device_id, challenge.id, harness.answer(new, challenge))
    assert [(k, s) for k, s in _kinds(client, alice)] == [
        ("scc", "revoked"),
        ("temporary", "revoked"),
        ("scc", "active"),
    ]


def test_after_the_temporary_stages_the_login_reactivates_the_permanent_device(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    dsc_plus = harness.enroll(alice, "dsc-plus")
    clock.advance(1)
    device_id, _passcode = temporary_passcode(client, alice)
    issued = clock.now()
    stages = [(t.kind, t.stage, t.stage_ends_at) for t in client.login(alice, PASSWORD).temporary]
    assert stages == [("temporary", "full", issued + 2 * DAY)]
    clock.advance(2 * DAY)
    stages = [(t.kind, t.stage, t.stage_ends_at) for t in client.login(alice, PASSWORD).temporary]
    assert stages == [("temporary", "card-printing", issued + 10 * DAY)]
    clock.advance(8 * DAY - 1)
    assert client.login(alice, PASSWORD).temporary[0].stage == "card-printing"
    clock.advance(1)  # ten days: the passcode is over, the login offers only the misplaced device
    started = client.login(alice, PASSWORD)
    assert [(t.kind, t.stage, t.stage_ends_at) for t in started.temporary] == [("temporary", "expired", None)]
    assert [(d.id, d.status) for d in started.devices] == [(dsc_plus.device_id, "pending")]
    assert problem(lambda: client.challenge(started.login_id, device_id)).code == "device-unavailable"
    challenge = client.challenge(started.login_id, dsc_plus.device_id)
    wrong = problem(lambda: client.answer(started.login_id, challenge.id, "00000000"))
    assert wrong.code == "wrong-answer"
    assert _kinds(client, alice)[0] == ("dsc-plus", "pending")
    grant = client.answer(started.login_id, challenge.id, harness.answer(dsc_plus, challenge))
    assert (grant.scope, grant.device_kind) == (FULL_SCOPE, "dsc-plus")
    assert _kinds(client, alice) == [("dsc-plus", "active"), ("temporary", "revoked")]
    again = client.login(alice, PASSWORD)
    assert ([d.status for d in again.devices], again.temporary) == (["active"], ())
    # A device the user never activated is not offered: it is activated from the portal.
    mailed = harness.enroll(alice, "scc", activate=False)
    assert mailed.device_id not in [d.id for d in client.login(alice, PASSWORD).devices]


def test_the_login_reactivates_an_ib_key_by_its_numeric_answer(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    ib_key = harness.enroll(alice, "ib-key")
    clock.advance(1)
    temporary_passcode(client, alice)
    clock.advance(10 * DAY)
    started = client.login(alice, PASSWORD)
    challenge = client.challenge(started.login_id, ib_key.device_id)
    assert challenge.mode == "numeric"
    grant = client.answer(started.login_id, challenge.id, harness.answer(ib_key, challenge))
    assert grant.device_kind == "ib-key"
    assert _kinds(client, alice) == [("ib-key", "active"), ("temporary", "revoked")]


def test_an_online_cards_stages_are_shown_at_login(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    card = harness.enroll(alice, "scc")
    online = client.online_card(session(harness, alice, card))
    assert [(t.kind, t.stage) for t in client.login(alice, PASSWORD).temporary] == [("online-scc", "pending")]
    assert online.provisioning is not None
    enrolled = Enrolled(alice, "online-scc", online.device.id, create(online.provisioning), None, online)
    challenge = client.start_activation(online.device.id)
    client.finish_activation(online.device.id, challenge.id, harness.answer(enrolled, challenge))
    ends = online.device.expires_at
    assert [(t.stage, t.stage_ends_at) for t in client.login(alice, PASSWORD).temporary] == [("full", ends)]
    clock.set(ends)  # type: ignore[arg-type]
    assert [(t.stage, t.expires_at) for t in client.login(alice, PASSWORD).temporary] == [("expired", ends)]


def test_the_cli_login_shows_the_stages_and_offers_the_device_to_reactivate(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    card = harness.enroll(alice, "scc")
    phone = harness.enroll(alice, "phone")
    clock.advance(1)
    temporary_passcode(client, alice)
    clock.advance(10 * DAY)
    shown: list[str] = []

    def ask(question: str) -> str:
        if question.startswith("Select"):
            return "1"
        indices = tuple(int(n) for n in question.split("cells ")[1].split(",")[0].split(" and "))
        assert isinstance(card.device, PrintedCard)
        return card.device.answer(indices)

    grant = interactive_login(client, alice, PASSWORD, ask=ask, say=shown.append)
    assert grant.device_kind == "scc"
    assert shown[0] == "Temporary access: temporary expired"
    assert shown[1].startswith("  1. scc")
    assert shown[1].endswith("answering reactivates it")
    assert shown[2].startswith("  2. phone")
    assert _kinds(client, alice) == [("scc", "active"), ("phone", "pending"), ("temporary", "revoked")]
    assert [d.id for d in client.login(alice, PASSWORD).devices] == [card.device_id, phone.device_id]


def test_a_closed_accounts_devices_not_returned_within_30_days_are_charged(
    client: TokensimClient, harness: Harness, clock: FixedClock, alice: str
) -> None:
    dsc_plus, gold, card = (harness.enroll(alice, kind) for kind in ("dsc-plus", "gold", "scc"))
    harness.enroll(alice, "ib-key")  # an app: nothing to return, no fee
    assert client.user(alice).reserved_usd == "190.00"
    client.close_account(alice)
    clock.advance(10 * DAY)
    client.report(gold.device_id, "returned")
    clock.advance(20 * DAY - 1)
    user = client.user(alice)
    assert (user.reserved_usd, user.fees_charged_usd) == ("40.00", "0.00")
    clock.advance(1)  # thirty days after the closing
    user = client.user(alice)
    assert (user.reserved_usd, user.fees_charged_usd) == ("0.00", "40.00")
    conditions = {d.id: (d.status, d.condition) for d in user.devices}
    assert conditions[dsc_plus.device_id] == conditions[card.device_id] == ("revoked", "not-returned")
    assert conditions[gold.device_id] == ("revoked", "returned")
    assert client.user(alice).fees_charged_usd == "40.00"  # charged once
