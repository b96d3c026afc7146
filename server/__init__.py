"""The tokensim verification server, its command line and its test harness.

Nothing is re-exported here, so ``tokensim code`` starts without loading the web stack; import from
the modules:

==================  ==================================================================================
module              what
==================  ==================================================================================
``api``             ``create_app(config, clock=, rng=, carrier=)``: the FastAPI app
``client``          ``TokensimClient``: the whole API as typed methods, over the network or in-process
``service``         ``Service``: the operations without HTTP (accounts, logins, challenges)
``config``          ``ServerConfig``: every tunable number; ``MASTER_KEY_ENV``, ``SUPPORT_TOKEN_ENV``
``verify``          verification per algorithm and the policy of each device kind
``challenges``      issuing and answering challenges, push decisions, the replay guards
``accounts``        users, enrollment, activation, IB Key activation, support actions
``login``           password, device choice, answer, sessions and their scope
``throttle``        per-device lockouts, the account failure limit, password pauses
``keys``            the master key and AES-GCM sealing bound to each row
``hashing``         argon2id for passwords and static codes
``db``, ``models``  SQLAlchemy engine, transactions, Alembic migrations (``migrations/``), tables
``audit``           the append-only audit log
``carrier``         SMS and voice delivery; the default outbox carrier
``problems``        RFC 9457 problem details and their stable codes (the only HTTP statuses)
``harness``         enroll and log in with emulated devices (harness only: imports the emulators)
``pytest_plugin``   the ``tokensim`` pytest plugin: a test server, users with emulated devices (harness)
``reset``           emptying a test server's database (``serve --ephemeral``, the plugin)
``transfer``        device secrets in and out of the store: PSKC export/import, otpauth secrets
``cli_*``           the ``tokensim`` subcommands
==================  ==================================================================================
"""

__all__: list[str] = []
