"""The tokensim verification server, its command line and its test harness.

Nothing is re-exported here, so ``tokensim code`` starts without loading the web stack; import from
the modules. The server is in rooms, each depending only on the ones below it
(tests/server/test_layering.py holds them to it; docs/architecture.md walks a login through them):

==================  ==================================================================================
room                what
==================  ==================================================================================
``cli/``            the ``tokensim`` command, one module per subcommand (harness: imports the emulators)
``testing/``        the harness: enroll and log in with emulated devices; the pytest plugin's server
``pytest_plugin``   the ``tokensim`` pytest plugin's entry point: its options and fixtures
``http/``           the FastAPI app, its routes, dependencies, RFC 9457 problems, request schemas
(top level)         the domain: :class:`~tokensim.server.service.Service` and the modules it is made of
``storage/``        the SQLAlchemy engine and transactions, the tables, the Alembic migrations
==================  ==================================================================================

The public faces: ``client`` (``TokensimClient``, the whole API as typed methods), ``config``
(``ServerConfig``, every tunable number), ``http.app`` (``create_app``), ``service`` (``Service``, the
operations without HTTP).
"""

__all__: list[str] = []
