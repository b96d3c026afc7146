"""Alembic migrations of the server's database.

They run programmatically when the server starts (:meth:`tokensim.server.storage.db.Database.migrate`,
through :mod:`tokensim.server.storage.migrate`); there is no ``alembic.ini`` and no ``env.py``. A new
migration is a module ``versions/rev_NNNN_<what>.py`` written by hand, with ``revision`` and
``down_revision`` set and an ``__all__`` like the others.
"""

__all__: list[str] = []
