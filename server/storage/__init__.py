"""Where the server keeps its state: the SQLAlchemy engine and transactions, the tables, migrations.

Storage knows no rule: it imports nothing of the server outside this package.
"""

__all__: list[str] = []
