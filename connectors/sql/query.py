"""Every statement the connector issues, built with SQLAlchemy Core for any dialect.

Identifiers are always bound parameters (``IN`` lists, ``LIKE`` patterns), never text in
the SQL. Long lists are split so no statement passes the dialect's parameter limit
(SQL Server: 2100). Nothing here executes: tests render the statements with the ``mssql``
dialect to check SQL Server's SQL without a server.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import ColumnElement, Select

from connectors.sql.columns import column_kind
from connectors.sql.model import Link, TableInfo

# Dialects whose default collations compare text case-insensitively.
CASE_INSENSITIVE = frozenset({"mysql", "mariadb", "mssql"})
# Parameters per statement, under each dialect's limit with room to spare.
MAX_PARAMS = {"mssql": 2000, "sqlite": 900, "postgresql": 10_000, "mysql": 10_000,
              "mariadb": 10_000}
_DEFAULT_MAX_PARAMS = 900
# A LIKE pre-filter is used for free text while it stays this small; beyond it the table
# is streamed whole and every row tokenised once.
MAX_LIKE_TERMS = 60

_INT_BOUNDS = {"SmallInteger": 2**15, "Integer": 2**31, "BigInteger": 2**63}


@dataclass(frozen=True)
class Condition:
    """``expression IN values`` (or a conjunction of several, for first + last name)."""

    parts: tuple[tuple[ColumnElement[Any], tuple[Any, ...]], ...]

    @property
    def size(self) -> int:
        return sum(len(values) for _, values in self.parts)

    def clause(self) -> ColumnElement[bool]:
        clauses = [expr.in_(list(values)) for expr, values in self.parts]
        return clauses[0] if len(clauses) == 1 else sa.and_(*clauses)


class QueryBuilder:
    def __init__(self, dialect: sa.engine.Dialect) -> None:
        self.dialect = dialect
        self.name = dialect.name
        self.max_params = MAX_PARAMS.get(self.name, _DEFAULT_MAX_PARAMS)
        self.case_insensitive = self.name in CASE_INSENSITIVE

    # ------------------------------------------------------------------ comparisons
    def folded(self, column: sa.Column[Any]) -> ColumnElement[Any]:
        """The column compared case-insensitively with lower-cased values."""
        if self.case_insensitive:
            return column
        return sa.func.lower(column)

    def bind_values(self, column: sa.Column[Any], values: Iterable[str]) -> tuple[Any, ...]:
        """Text values as the column stores them: digit strings become ints for a number
        column (out-of-range ones dropped), everything else stays text."""
        if column_kind(column) != "int":
            return tuple(dict.fromkeys(values))
        bound = _INT_BOUNDS.get(type(column.type).__name__, 2**63)
        out: dict[int, None] = {}
        for value in values:
            digits = value.lstrip("+")
            if digits.isdigit():
                number = int(digits)
                if number < bound:
                    out[number] = None
        return tuple(out)

    # ------------------------------------------------------------------ statements
    def matching(self, info: TableInfo, conditions: Sequence[Condition]) -> list[Select[Any]]:
        """``SELECT * FROM t WHERE c1 OR c2 ...``, split to respect the parameter limit."""
        statements: list[Select[Any]] = []
        for group in self._chunks(conditions):
            where = group[0].clause() if len(group) == 1 else sa.or_(*(c.clause() for c in group))
            statements.append(sa.select(info.table).where(where))
        return statements

    def in_condition(self, expr: ColumnElement[Any], values: Sequence[Any]) -> list[Condition]:
        """One condition per slice of ``values`` that fits in a statement."""
        step = max(1, self.max_params)
        values = list(dict.fromkeys(values))
        return [Condition(((expr, tuple(values[i:i + step])),))
                for i in range(0, len(values), step)]

    def children(self, child: TableInfo, link: Link,
                 keys: Sequence[tuple[Any, ...]]) -> list[Select[Any]]:
        """Rows of ``child`` whose link columns hold one of ``keys`` (parent key tuples)."""
        columns = [child.table.c[name] for name in link.child_cols]
        return self.by_keys(child, columns, keys)

    def by_keys(self, info: TableInfo, columns: Sequence[sa.Column[Any]],
                keys: Sequence[tuple[Any, ...]]) -> list[Select[Any]]:
        keys = list(dict.fromkeys(keys))
        if not keys:
            return []
        if len(columns) == 1:
            conditions = self.in_condition(columns[0], [k[0] for k in keys])
            return self.matching(info, conditions)
        # Composite keys: (a = ? AND b = ?) OR ...; SQL Server has no row-value IN.
        per_statement = max(1, self.max_params // len(columns))
        statements = []
        for i in range(0, len(keys), per_statement):
            ors = [sa.and_(*(c == v for c, v in zip(columns, key, strict=True)))
                   for key in keys[i:i + per_statement]]
            statements.append(sa.select(info.table).where(sa.or_(*ors)))
        return statements

    def free_text(self, info: TableInfo, columns: Sequence[str],
                  needles: Sequence[str] | None) -> Select[Any]:
        """Rows with text in ``columns``; with ``needles``, only rows containing one of them
        (``LIKE '%needle%'``, needles bound and LIKE-escaped)."""
        cols = [info.table.c[name] for name in columns]
        if not needles:
            # the whole table: streamed through a server-side cursor where there is one
            where = sa.or_(*(c.is_not(None) for c in cols))
            return sa.select(info.table).where(where).execution_options(yield_per=500)
        if self.name == "postgresql":
            # lower() once per row, every pattern in one array (a trigram index on
            # lower(column) serves it); PostgreSQL's LIKE escape character is a backslash
            patterns = sa.bindparam("needles", [f"%{_like_escape(n)}%" for n in needles],
                                    type_=postgresql.ARRAY(sa.Text))
            where = sa.or_(*(sa.func.lower(c).like(sa.any_(patterns)) for c in cols))
        else:
            # SQLite's LIKE ignores ASCII case, as do MariaDB's and SQL Server's collations
            where = sa.or_(*(c.contains(n, autoescape=True) for c in cols for n in needles))
        # Pre-filtered rows are few: a plain cursor keeps PostgreSQL's parallel scan (a
        # server-side cursor cannot use one).
        return sa.select(info.table).where(where)

    def scan(self, info: TableInfo) -> Select[Any]:
        """Every row, streamed (rows located by a hash of their content)."""
        return sa.select(info.table).execution_options(yield_per=1000)

    def sample(self, table: sa.Table, columns: Sequence[str], size: int) -> Select[Any]:
        """A cheap sample: the first ``size`` rows (``TOP`` on SQL Server, ``LIMIT`` elsewhere)."""
        return sa.select(*(table.c[name] for name in columns)).limit(size)

    def sample_column(self, table: sa.Table, column: str, size: int) -> Select[Any]:
        col = table.c[column]
        return sa.select(col).where(col.is_not(None)).limit(size)

    def probe(self) -> Select[Any]:
        return sa.select(sa.literal(1))

    # ------------------------------------------------------------------ helpers
    def _chunks(self, conditions: Sequence[Condition]) -> Iterable[list[Condition]]:
        group: list[Condition] = []
        size = 0
        for condition in conditions:
            if group and size + condition.size > self.max_params:
                yield group
                group, size = [], 0
            group.append(condition)
            size += condition.size
        if group:
            yield group


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
