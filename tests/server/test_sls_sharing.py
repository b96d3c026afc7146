"""Sharing a device between usernames: same entity or identity, no temporary devices, the stronger device."""

from __future__ import annotations

import pytest

from tokensim.server.client import TokensimClient
from tokensim.server.testing.harness import Enrolled, Harness
from tokensim.server.verify import FULL_SCOPE

from .conftest import PASSWORD
from .sls_helpers import problem, session, temporary_passcode

IDENTITY = {
    "date_of_birth": "1980-02-29",
    "citizenship": "US",
    "residence": "US",
    "id_type": "ssn",
    "id_number": "078-05-1120",
}


def _users(client: TokensimClient, *, entity: str | None = "acme", other_entity: str | None = "acme") -> None:
    for name, of, phone in (("owner", entity, "+15551230011"), ("asker", other_entity, "+15551230012")):
        client.create_user(name, PASSWORD, phones=[phone], entity=of, equity=2_000_000, start_with_sms=False)


def _share(client: TokensimClient, harness: Harness, token: str, device: Enrolled) -> str:
    challenge = client.share(token, "owner", PASSWORD, device.device_id)
    return client.share_answer(token, challenge.id, harness.answer(device, challenge)).id


def test_a_device_is_shared_by_answering_it_with_the_owners_credentials(
    client: TokensimClient, harness: Harness
) -> None:
    _users(client)
    dsc_plus = harness.enroll("owner", "dsc-plus")
    card = harness.enroll("asker", "scc")
    token = session(harness, "asker", card)
    wrong = problem(lambda: client.share(token, "owner", "not the password", dsc_plus.device_id))
    assert wrong.code == "invalid-credentials"
    challenge = client.share(token, "owner", PASSWORD, dsc_plus.device_id)
    assert problem(lambda: client.share_answer(token, challenge.id, "00000000")).code == "wrong-answer"
    shared = client.share_answer(token, challenge.id, harness.answer(dsc_plus, challenge))
    assert (shared.id, shared.owner) == (dsc_plus.device_id, "owner")
    started = client.login("asker", PASSWORD)
    assert [(d.kind, d.owner) for d in started.devices] == [("scc", None), ("dsc-plus", "owner")]
    grant = harness.login("asker", PASSWORD, dsc_plus).grant
    assert (grant.username, grant.scope) == ("asker", FULL_SCOPE)
    # The owner's other usernames are not told about it: their own list is unchanged.
    assert [d.owner for d in client.login("owner", PASSWORD).devices] == [None]


def test_users_of_other_entities_share_only_with_the_same_identification_data(
    client: TokensimClient, harness: Harness
) -> None:
    _users(client, entity="acme", other_entity="globex")
    ib_key = harness.enroll("owner", "ib-key")
    card = harness.enroll("asker", "scc")
    token = session(harness, "asker", card)
    refused = problem(lambda: client.share(token, "owner", PASSWORD, ib_key.device_id))
    assert (refused.status, refused.code) == (403, "sharing-refused")
    client.record_identity("owner", **IDENTITY)
    client.record_identity("asker", **(IDENTITY | {"id_number": "078-05-1121"}))
    assert problem(lambda: client.share(token, "owner", PASSWORD, ib_key.device_id)).code == "sharing-refused"
    assert client.record_identity("asker", **(IDENTITY | {"id_type": " SSN "})).identity_on_file
    assert _share(client, harness, token, ib_key) == ib_key.device_id


@pytest.mark.parametrize("holder", ["owner", "asker"])
def test_no_sharing_while_either_user_has_a_temporary_device(
    client: TokensimClient, harness: Harness, holder: str
) -> None:
    _users(client)
    dsc_plus = harness.enroll("owner", "dsc-plus")
    card = harness.enroll("asker", "scc")
    asker_token = session(harness, "asker", card)
    if holder == "owner":
        temporary_passcode(client, "owner")
        challenge_device = dsc_plus.device_id
        refused = problem(lambda: client.share(asker_token, "owner", PASSWORD, challenge_device))
        assert refused.code in ("sharing-refused", "device-unavailable")  # the DSC+ is pending, too
    else:
        enrollment = client.online_card(asker_token)  # an online card is a temporary device
        client.finish_activation(  # support activates it with the card's answer
            enrollment.device.id,
            (challenge := client.start_activation(enrollment.device.id)).id,
            harness.answer(
                Enrolled("asker", "online-scc", enrollment.device.id, _printed(enrollment), None, enrollment),
                challenge,
            ),
        )
        refused = problem(lambda: client.share(asker_token, "owner", PASSWORD, dsc_plus.device_id))
        assert refused.code == "sharing-refused"
        assert "temporary" in refused.detail


def _printed(enrollment: object) -> object:
    from tokensim.emulators import create
    from tokensim.server.views import Enrollment

    assert isinstance(enrollment, Enrollment)
    assert enrollment.provisioning is not None
    return create(enrollment.provisioning)


@pytest.mark.parametrize(
    ("askers", "owners", "allowed"),
    [
        ("scc", "ib-key", True),
        ("scc", "dsc-plus", True),
        ("ib-key", "dsc-plus", True),
        ("ib-key", "ib-key", True),
        ("dsc-plus", "ib-key", False),
        ("ib-key", "scc", False),
        ("scc", "dsc", False),  # not a shared kind
    ],
)
def test_only_a_device_at_least_as_strong_as_the_askers_is_shared(
    client: TokensimClient, harness: Harness, askers: str, owners: str, allowed: bool
) -> None:
    _users(client)
    owner_device = harness.enroll("owner", owners)
    asker_device = harness.enroll("asker", askers)
    token = session(harness, "asker", asker_device)
    if allowed:
        assert _share(client, harness, token, owner_device) == owner_device.device_id
    else:
        assert problem(lambda: client.share(token, "owner", PASSWORD, owner_device.device_id)).code == (
            "sharing-refused"
        )
