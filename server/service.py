"""The server's operations in one object, independent of HTTP: what the API, the CLI and tests call."""

from __future__ import annotations

import random
from collections.abc import Mapping

from tokensim.protocol.clock import Clock
from tokensim.server.callers import Callers
from tokensim.server.carrier import Carrier
from tokensim.server.challenges import Challenges
from tokensim.server.config import ServerConfig
from tokensim.server.core import Core, open_core
from tokensim.server.enrollment import DeviceEnrollment
from tokensim.server.ib_key_activation import IbKeyActivations
from tokensim.server.ib_key_registrations import IbKeyRegistrations
from tokensim.server.login import Logins
from tokensim.server.money import Money
from tokensim.server.own_devices import OwnDevices
from tokensim.server.security import Security
from tokensim.server.sharing import Sharing
from tokensim.server.support import Support
from tokensim.server.users import Users

__all__ = ["Service"]


class Service:
    """Support operations, logins, push decisions and the logged-in user's operations over one database.

    Each attribute is one subject's operations; they share ``core`` and ``challenges``.

    Attributes:
        core: the shared parts (config, database, keys, clock, rng, carrier, audit).
        challenges: issuing and answering challenges, push requests and decisions.
        logins: password, challenge, answer, sessions.
        users: support's users and accounts: create, fund, read, close, unlock; the audit log.
        enrollment: enrolling devices, activation tokens, activation by an answer, provisioning.
        support: identity data and verifications, temporary passcodes, PIN resets, device reports,
            revocation and device unlocks.
        ib_key_activation: IB Key's instant activation from the app, and the app's activation with
            its texted token.
        ib_key_registrations: an active IB Key's migration to a new phone, recovery and PIN change.
        callers: the user behind a session token, and the step-up challenges of withdrawals and
            account changes.
        money: withdrawals, what remains of their limits, deposits.
        security: the security settings (email, bank instructions, opt-out and opt-in, IP
            restrictions, penny stocks).
        sharing: sharing a device with another username.
        own_devices: the logged-in user's device requests, activations and PIN changes.
    """

    __slots__ = (
        "callers",
        "challenges",
        "core",
        "enrollment",
        "ib_key_activation",
        "ib_key_registrations",
        "logins",
        "money",
        "own_devices",
        "security",
        "sharing",
        "support",
        "users",
    )

    def __init__(self, core: Core) -> None:
        self.core = core
        self.challenges = Challenges(core)
        self.logins = Logins(core, self.challenges)
        self.users = Users(core)
        self.enrollment = DeviceEnrollment(core, self.challenges)
        self.support = Support(core, self.users)
        self.ib_key_activation = IbKeyActivations(core, self.enrollment)
        self.ib_key_registrations = IbKeyRegistrations(core, self.challenges, self.enrollment)
        self.callers = Callers(core, self.challenges)
        self.money = Money(core, self.challenges)
        self.security = Security(core, self.challenges)
        self.sharing = Sharing(core, self.challenges)
        self.own_devices = OwnDevices(core, self.challenges, self.enrollment)

    @classmethod
    def open(
        cls,
        config: ServerConfig,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        carrier: Carrier | None = None,
        environ: Mapping[str, str] | None = None,
        migrate: bool = True,
    ) -> Service:
        """Open the database (migrating it), check the master key and wire everything.

        Raises:
            MasterKeyError: the master key is missing, malformed or wrong for this database.
        """
        return cls(open_core(config, clock=clock, rng=rng, carrier=carrier, environ=environ, migrate=migrate))

    def close(self) -> None:
        """Release the database connections."""
        self.core.close()

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
