"""The SLS pages' rules over real sockets: `tokensim serve` as a subprocess, a user's own steps.

What needs time to pass (stages, windows, expiry) is tested in-process with an injected clock; here
the flows a user drives: the login that reactivates a misplaced device, the DSC+ PIN change with the
current PIN, funding, IB Key instant activation and iOS recovery without SMS.
"""

from __future__ import annotations

import re

from tokensim.emulators.devices.ib_key import IbKeyApp
from tokensim.protocol.provisioning import DeviceKind, Provisioning
from tokensim.server.client import TokensimClient
from tokensim.server.testing.harness import Harness
from tokensim.server.verify import FULL_SCOPE

from .conftest import PASSWORD
from .real_server import Server
from .sls_helpers import problem, static_login, temporary_passcode

NUMBER = "+15552230001"


def test_a_temporary_passcode_then_the_login_that_reactivates_the_device(
    server: Server, remote: TokensimClient
) -> None:
    remote.create_user("gina", PASSWORD, phones=[NUMBER], equity=600_000, start_with_sms=False)
    harness = Harness(remote)
    dsc_plus = harness.enroll("gina", "dsc-plus", pin="4826")
    device_id, passcode = temporary_passcode(remote, "gina")
    grant = static_login(remote, "gina", device_id, passcode)
    assert grant.scope == FULL_SCOPE
    started = remote.login("gina", PASSWORD)
    assert [(t.kind, t.stage) for t in started.temporary] == [("temporary", "full")]
    assert [(d.kind, d.status) for d in started.devices] == [("temporary", "active"), ("dsc-plus", "pending")]
    challenge = remote.challenge(started.login_id, dsc_plus.device_id)
    grant = remote.answer(started.login_id, challenge.id, harness.answer(dsc_plus, challenge))
    assert (grant.device_kind, grant.scope) == ("dsc-plus", FULL_SCOPE)
    assert remote.login("gina", PASSWORD).temporary == ()
    # The PIN change: the current PIN first, then the new one.
    first = remote.change_pin(grant.token, dsc_plus.device_id, "1397")
    assert first.challenge.question is not None
    current = dsc_plus.device.respond(first.challenge.question, "4826")  # type: ignore[attr-defined]
    second = remote.change_pin_current(grant.token, dsc_plus.device_id, first.id, current)
    assert second.challenge.question is not None
    new = dsc_plus.device.respond(second.challenge.question, "1397")  # type: ignore[attr-defined]
    remote.change_pin_answer(grant.token, dsc_plus.device_id, second.id, new)
    dsc_plus.pin = "1397"
    assert harness.login("gina", PASSWORD, dsc_plus).grant.scope == FULL_SCOPE
    logs = server.logs()
    assert not re.search(rf"(?<![0-9A-Z]){passcode}(?![0-9A-Z])", logs)  # never in the logs


def test_funding_instant_activation_and_ios_recovery(remote: TokensimClient) -> None:
    remote.create_user("hugo", PASSWORD, phones=[NUMBER], start_with_sms=False)
    assert problem(lambda: remote.ib_key_instant_activation("hugo", PASSWORD)).code == "not-eligible"
    assert remote.mark_funded("hugo").funded_at is not None
    harness = Harness(remote)
    started = remote.ib_key_instant_activation("hugo", PASSWORD, os="ios")
    assert started.sent_to == "+*******0001"
    app = IbKeyApp(Provisioning(kind=DeviceKind.IB_KEY, serial="iphone"), os="ios")
    harness.deliver()
    token = harness.phone(NUMBER).latest_code()
    assert token is not None
    provisioning = remote.activate_ib_key(app.begin_activation("hugo", token, biometric=True))
    app.complete_activation("hugo", provisioning)
    texts = len(remote.outbox())
    app.reinstall()
    recovery = remote.ib_key_recovery("hugo", PASSWORD, provisioning.serial)
    assert recovery.method == "app"
    assert recovery.challenge is not None
    assert recovery.challenge.challenge.question is not None
    answer = app.respond("hugo", recovery.challenge.challenge.question, biometric=True)
    assert remote.ib_key_recovery_answer(recovery.device.id, recovery.challenge.id, answer) is None
    assert len(remote.outbox()) == texts
