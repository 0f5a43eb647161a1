"""Reflect a database once and infer what the search needs: identity columns, free-text
columns, row keys, links between tables, and what each table's rows are about."""

from __future__ import annotations

import fnmatch
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from agent.detectors import Detector
from connectors.sql.classify import (
    infer_groups,
    is_party_name,
    is_person_table,
    party_column,
    plural_forms,
)
from connectors.sql.columns import ROLE_KINDS, column_kind, infer_roles, is_free_text
from connectors.sql.db import problem
from connectors.sql.model import Catalog, Link, PartyRule, Reference, TableInfo
from connectors.sql.options import SqlOptions, TableOptions
from connectors.sql.query import QueryBuilder

# contact_id, contactId, ContactID: a column holding another table's key
_ID_COLUMN = re.compile(r"^(?P<base>[A-Za-z][A-Za-z0-9_]*?)(_id|_ID|Id|ID)$")
# Columns re-sampled on their own when the first rows of a big table leave them empty.
_MIN_SAMPLED = 10
_ACCOUNT_WORDS = re.compile(r"(^|_)(account|acct|acc|ac)(_|$)")


@contextmanager
def quiet_reflection() -> Iterator[None]:
    """Expression indexes (``lower(email)``) are not reflected on every dialect, and say so
    in a warning: irrelevant to reading data, and noise on an operator's terminal."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*expression-based index",
                                category=sa.exc.SAWarning)
        yield


def build_catalog(conn: Connection, opts: SqlOptions, detectors: Sequence[Detector],
                  system_name: str) -> Catalog:
    inspector = sa.inspect(conn)
    default_schema = inspector.default_schema_name
    schema = opts.schema
    if schema is not None and schema not in inspector.get_schema_names():
        raise opts.error(f"the database has no schema {schema!r}", "schema")
    names = inspector.get_table_names(schema=schema)
    _check_configured_tables(opts, names)
    selected = [n for n in names if _selected(n, opts)]
    metadata = sa.MetaData()
    with quiet_reflection():
        metadata.reflect(bind=conn, schema=schema, only=selected, resolve_fks=False)
    qualify = schema is not None and schema != default_schema
    catalog = Catalog(dialect=conn.dialect.name, default_schema=default_schema, schema=schema)
    builder = QueryBuilder(conn.dialect)
    reflected = {t.name: t for t in metadata.tables.values()}
    lowered = {name.lower() for name in selected}
    for name in selected:
        table = reflected.get(name)
        if table is None:
            continue
        key = f"{schema}.{name}" if qualify else name
        table_opts = _table_options(opts, name)
        # sim_id -> sim_cards is a link, not a SIM number: keep such columns out of identity
        links = {c.name for c in table.columns if opts.infer_foreign_keys
                 and _names_a_table(c.name, lowered)}
        try:
            # a savepoint, so one table the login may not read does not end the transaction
            with conn.begin_nested():
                catalog.tables[key] = _describe(conn, builder, table, key, table_opts, opts,
                                                detectors, links)
        except sa.exc.DBAPIError as exc:
            catalog.unreadable[key] = f"reading table {key} failed: {problem(exc)}"
    _link(catalog, opts, system_name)
    return catalog


def _check_configured_tables(opts: SqlOptions, names: Sequence[str]) -> None:
    known = {n.lower() for n in names}
    for configured in opts.tables:
        if configured.lower() not in known:
            raise opts.error("the database has no table of this name", "tables", configured)


def _table_options(opts: SqlOptions, name: str) -> TableOptions:
    if name in opts.tables:
        return opts.tables[name]
    for configured, table_opts in opts.tables.items():
        if configured.lower() == name.lower():
            return table_opts
    return TableOptions()


def _selected(name: str, opts: SqlOptions) -> bool:
    lowered = name.lower()
    if _table_options(opts, name).exclude:
        return False
    if opts.include and not any(fnmatch.fnmatchcase(lowered, p.lower()) for p in opts.include):
        return False
    return not any(fnmatch.fnmatchcase(lowered, p.lower()) for p in opts.exclude)


# ----------------------------------------------------------------------- one table


def _describe(conn: Connection, builder: QueryBuilder, table: sa.Table, key: str,
              topts: TableOptions, opts: SqlOptions, detectors: Sequence[Detector],
              link_columns: set[str]) -> TableInfo:
    where = ("tables", table.name)
    info = TableInfo(key=key, table=table, erasure=topts.erasure)
    _locator(info, topts, opts)
    fk_columns = {c.parent.name for fk in table.foreign_key_constraints for c in fk.elements}
    fk_columns |= set(topts.foreign_keys) | link_columns
    samples = _sample(conn, builder, table, opts.sample_size, detectors)

    for column in topts.ignore:
        _require_column(table, column, opts, *where, "ignore")
    inferred = infer_roles(table, samples, detectors, skip=fk_columns | set(topts.ignore))
    detector_groups: list[str] = []
    for column, (role, source, groups) in inferred.items():
        info.roles.setdefault(role, []).append(column)
        info.role_source[column] = source
        detector_groups.extend(groups)
    _apply_configured_identity(info, topts, opts)
    _pair_bank_columns(info)

    if topts.free_text is not None:
        for column in topts.free_text:
            _require_column(table, column, opts, *where, "free_text")
        info.free_text = list(topts.free_text)
    else:
        used = set(info.role_source) | set(info.locator_columns) | fk_columns
        info.free_text = [c.name for c in table.columns
                          if c.name not in used and is_free_text(c, samples.get(c.name, []))]

    _classify(info, topts, opts)
    info.categories = (list(topts.categories) if topts.categories is not None else
                       infer_groups(table.name, info.roles, detector_groups,
                                    person=info.person, party=info.party_table))
    return info


def _locator(info: TableInfo, topts: TableOptions, opts: SqlOptions) -> None:
    table = info.table
    primary = [c.name for c in table.primary_key.columns]
    if primary:
        info.locator_columns, info.key_source = tuple(primary), "primary"
        return
    if topts.key:
        for column in topts.key:
            _require_column(table, column, opts, "tables", table.name, "key")
        info.locator_columns, info.key_source = tuple(topts.key), "configured"
        return
    uniques: list[tuple[str, ...]] = [tuple(c.name for c in index.columns)
                                      for index in table.indexes if index.unique]
    uniques += [tuple(c.name for c in constraint.columns) for constraint in table.constraints
                if isinstance(constraint, sa.UniqueConstraint)]
    uniques = [u for u in uniques if u]
    if uniques:
        def rank(cols: tuple[str, ...]) -> tuple[int, int]:
            nullable = sum(1 for c in cols if table.c[c].nullable)
            return nullable, len(cols)
        info.locator_columns, info.key_source = min(uniques, key=rank), "unique"


def _sample(conn: Connection, builder: QueryBuilder, table: sa.Table, size: int,
            detectors: Sequence[Detector]) -> dict[str, list[Any]]:
    columns = [c.name for c in table.columns if column_kind(c) != "other"]
    if not columns:
        return {}
    rows = conn.execute(builder.sample(table, columns, size)).all()
    samples: dict[str, list[Any]] = {name: [] for name in columns}
    for row in rows:
        for name, value in zip(columns, row, strict=True):
            if value is not None:
                samples[name].append(value)
    if len(rows) < size:
        return samples
    # A big table whose first rows leave a named column empty: sample that column alone.
    for name in columns:
        if len(samples[name]) < _MIN_SAMPLED and any(d.matches_column_name(name)
                                                    for d in detectors):
            samples[name] = [r[0] for r in
                             conn.execute(builder.sample_column(table, name, size)).all()]
    return samples


def _apply_configured_identity(info: TableInfo, topts: TableOptions, opts: SqlOptions) -> None:
    """Configured identity columns replace what was inferred for the same role."""
    for role, columns in topts.identity.items():
        for column in columns:
            col = _require_column(info.table, column, opts, "tables", info.name, "identity", role)
            kind = column_kind(col)
            allowed = ROLE_KINDS.get(role, ROLE_KINDS["account"])
            if kind not in allowed:
                raise opts.error(f"column {column!r} holds {kind} values, which cannot be "
                                 f"a {role}", "tables", info.name, "identity", role)
        for existing in info.roles.get(role, []):
            info.role_source.pop(existing, None)
        info.roles[role] = list(columns)
        for other_role, other_columns in list(info.roles.items()):
            if other_role != role:
                info.roles[other_role] = [c for c in other_columns if c not in columns]
        for column in columns:
            info.role_source[column] = "config"
    info.roles = {role: cols for role, cols in info.roles.items() if cols}


def _pair_bank_columns(info: TableInfo) -> None:
    """An account-number column beside a sort code is a bank account, not a customer
    account: the two make the ``bank_account`` identifier."""
    if not info.roles.get("sort_code") or info.roles.get("bank_account_number"):
        return
    accounts = [c for c in info.roles.get("account", [])
                if _ACCOUNT_WORDS.search(c.lower()) and info.role_source.get(c) != "config"]
    if accounts:
        info.roles["bank_account_number"] = accounts[:1]
        info.roles["account"] = [c for c in info.roles["account"] if c != accounts[0]]
        if not info.roles["account"]:
            del info.roles["account"]


def _classify(info: TableInfo, topts: TableOptions, opts: SqlOptions) -> None:
    columns = [c.name for c in info.table.columns]
    configured_party = topts.party is not None or topts.party_column is not None
    if topts.person is not None:
        info.person = topts.person
    else:
        info.person = not configured_party and is_person_table(info.name, info.roles)
    detected_column = None if configured_party else party_column(columns)
    info.party_table = not info.person and (
        configured_party or detected_column is not None or is_party_name(info.name)
        or bool(info.roles.get("company_number")))
    if info.party_table:
        column = topts.party_column or detected_column
        if topts.party_column:
            _require_column(info.table, topts.party_column, opts, "tables", info.name,
                            "party_column")
        info.party = PartyRule(fixed=topts.party, column=column,
                               person_values=topts.person_values,
                               organisation_values=topts.organisation_values,
                               company_number_columns=tuple(info.roles.get("company_number",
                                                                           [])))
    if len(info.table.primary_key.columns) == 1:
        if info.person:
            info.own_key_type = "contact_id"
        elif info.party_table:
            info.own_key_type = "customer_id"


def _require_column(table: sa.Table, column: str, opts: SqlOptions,
                    *path: str) -> sa.Column[Any]:
    if column not in table.c:
        raise opts.error(f"table {table.name!r} has no column {column!r}", *path)
    return table.c[column]


# ----------------------------------------------------------------------- links


def _link(catalog: Catalog, opts: SqlOptions, system_name: str) -> None:
    by_name = {info.name.lower(): info for info in catalog}
    links: list[Link] = []
    linked: set[tuple[str, str]] = set()  # (table key, column) already part of a link

    for info in catalog:
        for fk in info.table.foreign_key_constraints:
            target = _fk_target(fk, catalog)
            if target is None:
                continue
            parent, parent_cols = target
            child_cols = tuple(e.parent.name for e in fk.elements)
            links.append(Link(info.key, child_cols, parent.key, parent_cols, declared=True))
            linked.update((info.key, c) for c in child_cols)
        topts = _table_options(opts, info.name)
        for column, (target_table, target_column) in topts.foreign_keys.items():
            path = ("tables", info.name, "foreign_keys", column)
            _require_column(info.table, column, opts, *path)
            parent = by_name.get(target_table.lower())
            if parent is None:
                raise opts.error(f"no table {target_table!r} to link to", *path)
            _require_column(parent.table, target_column, opts, *path)
            links.append(Link(info.key, (column,), parent.key, (target_column,), declared=True))
            linked.add((info.key, column))

    for info in catalog:
        for column in info.table.columns:
            declared = _declared_reference(opts, info.name, column.name)
            if declared is None:
                continue
            system, table_name, target_column = declared
            if system != system_name:
                info.references.append(Reference(column.name, system,
                                                 frozenset({table_name.lower()}), True))
                linked.add((info.key, column.name))
                continue
            parent = by_name.get(table_name.lower())
            if parent is not None and target_column in parent.table.c \
                    and (info.key, column.name) not in linked:
                links.append(Link(info.key, (column.name,), parent.key, (target_column,)))
                linked.add((info.key, column.name))

    if opts.infer_foreign_keys:
        for info in catalog:
            for column in info.table.columns:
                if ((info.key, column.name) in linked or column.name in info.role_source
                        or column_kind(column) not in {"int", "str", "text"}):
                    continue
                match = _ID_COLUMN.match(column.name)
                if not match:
                    continue
                base = match.group("base").lower().rstrip("_")
                parent = next((by_name[f] for f in sorted(plural_forms(base)) if f in by_name),
                              None)
                if parent is not None:
                    link = _inferred_link(info, column, parent)
                    if link is not None:
                        links.append(link)
                        linked.add((info.key, column.name))
                elif column.name not in info.locator_columns:
                    info.references.append(Reference(column.name, None,
                                                     frozenset(plural_forms(base)), False))

    for link in links:
        catalog.tables[link.child].parents.append(link)
        catalog.tables[link.parent].children.append(link)


def _names_a_table(column: str, tables: set[str]) -> bool:
    match = _ID_COLUMN.match(column)
    if not match:
        return False
    base = match.group("base").lower().rstrip("_")
    return bool(plural_forms(base) & tables)


def _fk_target(fk: sa.ForeignKeyConstraint,
               catalog: Catalog) -> tuple[TableInfo, tuple[str, ...]] | None:
    """The catalogued table and columns a reflected foreign key points at (None when it
    points outside the tables searched)."""
    tables: set[str] = set()
    columns: list[str] = []
    for element in fk.elements:
        table_name, _, column = element.target_fullname.rpartition(".")
        tables.add(table_name)
        columns.append(column)
    if len(tables) != 1:
        return None
    fullname = tables.pop()
    schema, _, name = fullname.rpartition(".")
    if schema and schema not in {catalog.schema, catalog.default_schema}:
        return None
    for info in catalog:
        if info.name == name and (not schema or info.table.schema in {schema, None}):
            return info, tuple(columns)
    return None


def _inferred_link(child: TableInfo, column: sa.Column[Any], parent: TableInfo) -> Link | None:
    primary = list(parent.table.primary_key.columns)
    if len(primary) != 1:
        return None
    target = primary[0]
    if parent.key == child.key and target.name == column.name:
        return None
    if not {column_kind(column), column_kind(target)} <= {"int", "str", "text"}:
        return None
    return Link(child.key, (column.name,), parent.key, (target.name,), declared=False)


def _declared_reference(opts: SqlOptions, table: str,
                        column: str) -> tuple[str, str, str] | None:
    return opts.references.get(f"{table}.{column}") or opts.references.get(column)
