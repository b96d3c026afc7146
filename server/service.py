"""The server's operations in one object, independent of HTTP: what the API, the CLI and tests call."""

from __future__ import annotations

import random
from collections.abc import Mapping

from tokensim.protocol.clock import Clock
from tokensim.server.accounts import Accounts
from tokensim.server.carrier import Carrier
from tokensim.server.challenges import Challenges
from tokensim.server.config import ServerConfig
from tokensim.server.core import Core, open_core
from tokensim.server.login import Logins
from tokensim.server.sls import Sls

__all__ = ["Service"]


class Service:
    """Support operations, logins and push decisions over one database.

    Attributes:
        core: the shared parts (config, database, keys, clock, rng, carrier, audit).
        challenges: issuing and answering challenges, push requests and decisions.
        accounts: users, enrollment, activation, support actions, the audit log.
        logins: password, challenge, answer, sessions.
        sls: the Secure Login System rules of logged-in users and of the IB Key app.
    """

    __slots__ = ("accounts", "challenges", "core", "logins", "sls")

    def __init__(self, core: Core) -> None:
        self.core = core
        self.challenges = Challenges(core)
        self.accounts = Accounts(core, self.challenges)
        self.logins = Logins(core, self.challenges)
        self.sls = Sls(core, self.challenges, self.accounts)

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
