"""Statements the answer path runs many times: compiled once per database, run on the driver itself.

A verification runs about seven statements in one transaction. Through SQLAlchemy's execution
machinery each costs tens of microseconds of Python, several times what SQLite takes to run it, so the
hot statements are worked out once per dialect (SQL, parameter order, type conversions) and handed
straight to the driver: :class:`Prepared` for an INSERT or UPDATE inside a session's transaction,
:class:`PreparedLoad` for a SELECT of whole mapped rows read without a session, and :func:`changed`
for a conditional UPDATE whose row count decides a one-time state change. Errors come out as
SQLAlchemy's own (``IntegrityError`` and the like), with the parameters hidden.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Dialect, Insert, Select, Update, inspect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapper, Session, make_transient_to_detached
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.schema import ScalarElementColumnDefault

if TYPE_CHECKING:
    from tokensim.server.storage.db import Database

__all__ = ["Prepared", "PreparedLoad", "changed", "execute_on_driver"]


class Prepared:
    """An INSERT or UPDATE compiled once per database and run on the driver's own cursor.

    The answer path runs six such statements per verification; through SQLAlchemy's execution
    machinery each costs about 40 microseconds of Python, several times what SQLite takes to run
    it. A prepared statement keeps SQLAlchemy for what it is good at (building the SQL, its
    parameter order and its type conversions, once per dialect) and hands each execution straight
    to the driver, inside the session's transaction. Only the row count comes back; errors are
    raised as SQLAlchemy's own (``IntegrityError`` and the like), as from any other statement.

    Args:
        statement: the statement, with every value a bound parameter (``bindparam("name")``) or a
            literal. For an INSERT the parameters are the column names given to :meth:`run`.
    """

    __slots__ = ("_forms", "statement")

    def __init__(self, statement: Insert | Update) -> None:
        self.statement = statement
        self._forms: dict[tuple[str, tuple[str, ...]], _Form] = {}

    def run(self, session: Session, parameters: Mapping[str, Any]) -> int:
        """Execute in the session's transaction (after flushing it); return the rows matched."""
        session.flush()
        cursor, dialect = _cursor(session)
        key = (dialect.name, tuple(parameters))
        form = self._forms.get(key)
        if form is None:
            form = self._forms[key] = self._compile(dialect, key[1])
        values = form.compiled.construct_params({**form.defaults, **parameters})
        for name, process in form.processors:
            values[name] = process(values[name])
        execute_on_driver(cursor, form.sql, form.order, values, dialect)
        return int(cursor.rowcount)

    def _compile(self, dialect: Dialect, names: tuple[str, ...]) -> _Form:
        compiled = self.statement.compile(dialect=dialect, column_keys=list(names))
        # Columns left out whose default Python supplies (``default=0``): SQLAlchemy's executor would
        # fill them in; here a constant default is filled in, anything else must be given.
        defaults = {}
        for column in (*compiled.insert_prefetch, *compiled.update_prefetch):
            default = column.default if compiled.isinsert else column.onupdate
            if not isinstance(default, ScalarElementColumnDefault):
                raise ValueError(f"a prepared statement needs a value for {column.key!r}")
            defaults[column.key] = default.arg
        processors = [
            (name, process)
            for bind, name in compiled.bind_names.items()
            if (process := bind.type.bind_processor(dialect)) is not None
        ]
        return _Form(compiled.string, compiled.positiontup, defaults, processors, compiled)


def execute_on_driver(
    cursor: Any, sql: str, order: Sequence[str] | None, values: Mapping[str, Any], dialect: Dialect
) -> None:
    """Run compiled SQL on a driver cursor (or connection); driver errors come out as SQLAlchemy's.

    ``order`` lists the parameter names for a driver with positional parameters (SQLite).
    """
    try:
        cursor.execute(sql, values if order is None else [values[name] for name in order])
    except dialect.loaded_dbapi.Error as e:
        raise DBAPIError.instance(
            sql, None, e, dialect.loaded_dbapi.Error, hide_parameters=True, dialect=dialect
        ) from e


def _cursor(session: Session) -> tuple[Any, Dialect]:
    """A driver cursor on the connection of the session's transaction, kept for that transaction.

    Asking the session for its connection costs about 20 microseconds each time; a verification
    runs seven statements in one transaction.
    """
    transaction = session.get_transaction()
    kept = session.info.get(_CURSOR)
    if kept is not None and kept[0] is transaction:
        return kept[1], kept[2]
    connection = session.connection()
    cursor = connection.connection.cursor()
    session.info[_CURSOR] = (session.get_transaction(), cursor, connection.dialect)
    return cursor, connection.dialect


#: Where :func:`_cursor` keeps its cursor, in ``Session.info``.
_CURSOR = "tokensim.cursor"


class _Form(NamedTuple):
    """A :class:`Prepared` statement as one database runs it, for one set of parameter names."""

    sql: str
    #: The parameter names in order, for a driver with positional parameters (SQLite); else None.
    order: list[str] | None
    #: Constant column defaults of columns the parameters leave out.
    defaults: dict[str, Any]
    #: The type conversions of the parameters that have one (Decimal, bool, bytes, float).
    processors: Sequence[tuple[str, Callable[[Any], Any]]]
    compiled: SQLCompiler


class PreparedLoad:
    """A SELECT of whole rows of mapped classes, compiled once per database, read without a Session.

    Loading one row of four classes through a Session costs about 0.3 ms of Python on SQLite, most
    of it the ORM setting up its row loaders afresh for every query; the database takes 30
    microseconds. The answer path reads its challenge, device, user and login that way on every
    verification, so it uses this instead: the statement's columns are the mapped columns of each
    class in turn, its SQL, parameter order and result conversions are worked out once per database,
    and each class's slice of the row becomes a detached instance, as a Session that was closed
    after loading it would leave it (``make_transient_to_detached``). The row is read on a pooled
    connection of its own, in one statement, which sees one consistent state of the database.

    Args:
        statement: ``select(A, B, ...)`` with its joins and WHERE clause; every value a
            ``bindparam("name")``. A class on the outer side of a LEFT JOIN comes back as ``None``
            where the row has no match.
    """

    __slots__ = ("_forms", "_mappers", "_statement")

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        self._mappers: list[tuple[Mapper[Any], list[str], int]] = []
        columns: list[Any] = []
        for description in statement.column_descriptions:
            mapper = inspect(description["entity"])
            own = [prop.columns[0] for prop in mapper.column_attrs]
            # Where the (first) primary key column sits: NULL there means no row of this class.
            key_at = own.index(mapper.primary_key[0])
            self._mappers.append((mapper, [prop.key for prop in mapper.column_attrs], key_at))
            columns.extend(own)
        self._statement = statement.with_only_columns(*columns, maintain_column_froms=True)
        self._forms: dict[str, _LoadForm] = {}

    def one_or_none(self, database: Database, parameters: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first matching row as one instance per class (``None`` for an unmatched outer join)."""
        dialect = database.engine.dialect
        form = self._forms.get(dialect.name)
        if form is None:
            compiled = self._statement.compile(dialect=dialect)
            form = self._forms[dialect.name] = _LoadForm(
                compiled.string, compiled.positiontup, compiled, None
            )
        values = form.compiled.construct_params(parameters)
        connection = database.engine.raw_connection()
        try:
            cursor = connection.cursor()
            execute_on_driver(cursor, form.sql, form.order, values, dialect)
            row = cursor.fetchone()
            if form.processors is None:
                # The conversions may depend on the column types the driver reports, so they are
                # worked out on the first execution (two threads may both do it; either result holds).
                columns = zip(self._statement.selected_columns, cursor.description, strict=True)
                processors = [
                    column.type.result_processor(dialect, described[1]) for column, described in columns
                ]
                form = self._forms[dialect.name] = form._replace(processors=processors)
            cursor.close()
        finally:
            connection.close()
        if row is None:
            return None
        assert form.processors is not None
        return tuple(self._instances(row, form.processors))

    def _instances(
        self, row: Sequence[Any], processors: Sequence[Callable[[Any], Any] | None]
    ) -> Iterator[Any]:
        at = 0
        for mapper, keys, key_at in self._mappers:
            end = at + len(keys)
            if row[at + key_at] is None:
                at = end
                yield None
                continue
            values = [
                value if process is None or value is None else process(value)
                for value, process in zip(row[at:end], processors[at:end], strict=True)
            ]
            at = end
            # What the ORM's own loader does with a fresh row: a new instance whose attributes are
            # set in its dictionary (no change events), then given its identity as loaded.
            instance = mapper.class_manager.new_instance()
            instance.__dict__.update(zip(keys, values, strict=True))
            make_transient_to_detached(instance)
            yield instance


class _LoadForm(NamedTuple):
    """A :class:`PreparedLoad` as one database runs it."""

    sql: str
    #: The parameter names in order, for a driver with positional parameters (SQLite); else None.
    order: list[str] | None
    compiled: SQLCompiler
    #: Each column's conversion from the driver's value (``None``: none); set on the first execution.
    processors: Sequence[Callable[[Any], Any] | None] | None


def changed(
    session: Session, statement: Update | Prepared, parameters: Mapping[str, Any] | None = None
) -> int:
    """Run a conditional UPDATE without ORM bookkeeping; return how many rows it matched.

    The statement runs as plain SQL on the session's connection, inside its transaction, after the
    flush ``session.execute`` would have done (rows added earlier in the transaction are there to
    match). Objects the session already holds are not updated: the WHERE clause alone decides which
    rows change, so a one-time change (``... WHERE status = 'open'``) compares the count with 1 and
    refuses when another transaction got there first. The answer path's statements are
    :class:`Prepared` once at import and run with ``parameters``.
    """
    if isinstance(statement, Prepared):
        return statement.run(session, parameters or {})
    session.flush()
    return session.connection().execute(statement, parameters or {}).rowcount
