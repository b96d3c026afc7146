"""New accounts: the online card from the funding, the first permanent device, self-activating devices."""

from __future__ import annotations

from tokensim.emulators import create
from tokensim.protocol.clock import FixedClock
from tokensim.server.client import TokensimClient
from tokensim.server.testing.harness import Enrolled, Harness
from tokensim.server.verify import FULL_SCOPE

from .conftest import PASSWORD
from .sls_helpers import problem, session

DAY = 86400.0
NUMBER = "+15551230030"


def _new_account(client: TokensimClient, harness: Harness) -> tuple[str, Enrolled]:
    """A new, unfunded account that logs in by its signup SMS and prints its online card."""
    user = client.create_user("nina", PASSWORD, phones=[NUMBER])
    assert user.funded_at is None
    sms = Enrolled("nina", "phone", user.devices[0].id, harness.phone(NUMBER), None, None)  # type: ignore[arg-type]
    token = session(harness, "nina", sms)
    online = client.online_card(token)
    assert online.provisioning is not None
    card = Enrolled("nina", "online-scc", online.device.id, create(online.provisioning), None, online)
    challenge = client.activate(token, online.device.id)
    client.activate_answer(token, online.device.id, challenge.id, harness.answer(card, challenge))
    return token, card


def _expiry(client: TokensimClient, device_id: str) -> float | None:
    return next(d.expires_at for d in client.user("nina").devices if d.id == device_id)


def test_a_new_accounts_online_card_lasts_21_days_from_the_first_deposit(
    client: TokensimClient, harness: Harness, clock: FixedClock
) -> None:
    token, card = _new_account(client, harness)
    assert _expiry(client, card.device_id) is None  # not funded yet: the 21 days have not started
    clock.advance(30 * DAY)
    assert harness.login("nina", PASSWORD, card).grant.scope == FULL_SCOPE
    token = harness.login("nina", PASSWORD, card).grant.token
    receipt = client.deposit(token, "1000.00", "wire")
    funded = client.user("nina").funded_at
    assert funded == receipt.created_at
    assert _expiry(client, card.device_id) == funded + 21 * DAY
    client.deposit(token, "1000.00", "wire")  # a second deposit changes nothing
    assert client.user("nina").funded_at == funded
    clock.advance(21 * DAY - 1)
    assert harness.login("nina", PASSWORD, card).grant.scope == FULL_SCOPE
    clock.advance(1)
    started = client.login("nina", PASSWORD)
    assert card.device_id not in [d.id for d in started.devices]


def test_support_marks_an_account_funded(client: TokensimClient, harness: Harness, clock: FixedClock) -> None:
    _token, card = _new_account(client, harness)
    clock.advance(DAY)
    user = client.mark_funded("nina")
    assert user.funded_at == clock.now()
    assert _expiry(client, card.device_id) == clock.now() + 21 * DAY
    clock.advance(DAY)
    assert client.mark_funded("nina").funded_at == user.funded_at
    assert problem(lambda: client.mark_funded("nobody")).code == "not-found"
    # Created with a balance, an account is funded from the start.
    assert client.create_user("rich", PASSWORD, equity="10.00").funded_at == clock.now()


def test_activating_the_first_permanent_device_ends_the_online_card(
    client: TokensimClient, harness: Harness
) -> None:
    _token, card = _new_account(client, harness)
    dsc_plus = harness.enroll("nina", "dsc-plus")  # mailed, then activated by its answer
    statuses = {d.id: d.status for d in client.user("nina").devices}
    assert (statuses[card.device_id], statuses[dsc_plus.device_id]) == ("revoked", "active")
    assert [e.detail["reason"] for e in client.audit(event="device.revoked")] == [
        "permanent device activated"
    ]


def test_a_mailed_device_activates_by_itself_after_14_days(
    client: TokensimClient, harness: Harness, clock: FixedClock
) -> None:
    _token, card = _new_account(client, harness)
    mailed = client.enroll("nina", "dsc-plus", pin="1234")
    assert mailed.device.activate_by == mailed.device.issued_at + 14 * DAY  # type: ignore[operator]
    assert client.enroll("nina", "ib-key").device.activate_by is None  # the app activates IB Key
    clock.advance(14 * DAY - 1)
    assert {d.id: d.status for d in client.user("nina").devices}[mailed.device.id] == "pending"
    clock.advance(1)
    statuses = {d.id: d.status for d in client.user("nina").devices}
    assert (statuses[mailed.device.id], statuses[card.device_id]) == ("active", "revoked")
    assert [d.id for d in client.login("nina", PASSWORD).devices][-1] == mailed.device.id
