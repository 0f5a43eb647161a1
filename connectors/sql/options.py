"""The SQL connector's options from a ``[[systems]]`` table, validated up front.

Everything is optional: a system given only its URL is searched with inferred settings.
Errors name the system and the key (``systems.crm.tables.contacts.identity.emial``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from agent.config import SystemConfig
from agent.errors import ConfigError
from agent.identifiers import TYPES
from agent.option_values import number
from agent.policy import DATA_GROUPS, data_group

# Identity roles a column can play: identifier types plus the parts a name or bank
# account is stored in.
NAME_ROLES = ("first_name", "last_name", "full_name")
BANK_ROLES = ("sort_code", "bank_account_number")
IDENTITY_KEYS = frozenset(TYPES) | set(NAME_ROLES) | set(BANK_ROLES)

ERASURE_STRATEGIES = frozenset({"delete", "anonymise", "suppress", "restrict", "retain"})
Party = Literal["person", "organisation"]

_SYSTEM_OPTIONS = {
    "schema": "database schema to search (default: the connection's default schema)",
    "include": "table names or patterns to search (default: all)",
    "exclude": "table names or patterns to leave out",
    "tables": "per-table settings: [systems.tables.NAME]",
    "sample_size": "values sampled per column to infer identity columns (default 200)",
    "connect_timeout": "seconds to wait for a connection (default 10)",
    "follow_depth": "levels of foreign keys followed from a matched row (default 6)",
    "free_text": "scan free-text columns (notes, comments) for identifiers (default true)",
    "infer_foreign_keys": "treat contact_id-style columns as links when undeclared "
                          "(default true)",
}
_TABLE_OPTIONS = {
    "identity": "identity columns by type, e.g. { email = \"email_address\" }",
    "categories": "the policy's data groups of the table's rows",
    "party": "\"person\" or \"organisation\": what each row is about",
    "party_column": "column whose value says whether a row is a person or an organisation",
    "person_values": "values of party_column meaning a person (sole trader, individual)",
    "organisation_values": "values of party_column meaning an organisation",
    "person": "true when each row is about one person (a contacts-like table)",
    "free_text": "free-text columns to scan (an empty list turns scanning off)",
    "ignore": "columns never used as identity columns",
    "key": "columns that identify a row when the table has no primary key",
    "foreign_keys": "undeclared links, e.g. { referred_by = \"contacts.id\" }",
    "exclude": "true to leave the table out",
    "erasure": "erasure strategy: delete, anonymise, suppress, restrict or retain",
    "anonymise": "columns an anonymise overwrites: a list of names (NULL or a placeholder), "
                 "or { column = value } for fixed values",
    "suppress": "do-not-contact marker: a boolean column set to true, or { column = value }",
    "restrict": "restriction marker: a boolean column set to true, or { column = value }",
}
# Erasure strategies carried out by setting a marker: the table needs that marker.
MARKER_STRATEGIES = ("suppress", "restrict")
# Values a TOML table can give a marker or a fixed anonymise value.
_SCALARS = (bool, int, float, str, date, datetime)


@dataclass
class TableOptions:
    identity: dict[str, list[str]] = field(default_factory=dict)
    categories: list[str] | None = None
    party: Party | None = None
    party_column: str | None = None
    person_values: frozenset[str] | None = None
    organisation_values: frozenset[str] | None = None
    person: bool | None = None
    free_text: list[str] | None = None
    ignore: frozenset[str] = frozenset()
    key: list[str] | None = None
    foreign_keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    exclude: bool = False
    erasure: str | None = None
    # column -> fixed value, or None: NULL when nullable, else a placeholder fitting the type
    anonymise: dict[str, Any] | None = None
    suppress: dict[str, Any] | None = None  # column -> value marking a row do-not-contact
    restrict: dict[str, Any] | None = None  # column -> value marking a row restricted

    def marker(self, action: str) -> dict[str, Any] | None:
        """The suppress or restrict marker (column -> value), if configured."""
        return self.suppress if action == "suppress" else \
            self.restrict if action == "restrict" else None


@dataclass
class SqlOptions:
    system: str
    schema: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    tables: dict[str, TableOptions] = field(default_factory=dict)
    sample_size: int = 200
    connect_timeout: float = 10.0
    follow_depth: int = 6
    free_text: bool = True
    infer_foreign_keys: bool = True
    # column ("contact_id") or "table.column" -> (system, table, column) it holds keys of
    references: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    def key(self, *parts: str) -> str:
        return ".".join(("systems", self.system, *parts))

    def table(self, name: str) -> TableOptions:
        """A table's settings (matched case-insensitively, as the schema is), or defaults."""
        if name in self.tables:
            return self.tables[name]
        for configured, table_opts in self.tables.items():
            if configured.lower() == name.lower():
                return table_opts
        return TableOptions()

    def error(self, message: str, *parts: str) -> ConfigError:
        return ConfigError(f"system {self.system!r}: {message}", key=self.key(*parts))


def parse_options(system: SystemConfig) -> SqlOptions:
    opts = SqlOptions(system=system.name)
    raw = dict(system.options)
    unknown = sorted(set(raw) - set(_SYSTEM_OPTIONS))
    if unknown:
        raise opts.error(f"unknown option(s) {unknown}; the sql connector knows "
                         f"{sorted(_SYSTEM_OPTIONS)} (and url, timeout, references)", unknown[0])
    if "schema" in raw:
        opts.schema = _text(opts, raw["schema"], "schema")
    opts.include = tuple(_text_list(opts, raw.get("include", []), "include"))
    opts.exclude = tuple(_text_list(opts, raw.get("exclude", []), "exclude"))
    opts.sample_size = int(number(opts, raw.get("sample_size", 200), 1, 100_000,
                                  "sample_size", whole=True))
    opts.connect_timeout = number(opts, raw.get("connect_timeout", 10), 0.1, 600,
                                  "connect_timeout")
    opts.follow_depth = int(number(opts, raw.get("follow_depth", 6), 0, 50, "follow_depth",
                                   whole=True))
    opts.free_text = _bool(opts, raw.get("free_text", True), "free_text")
    opts.infer_foreign_keys = _bool(opts, raw.get("infer_foreign_keys", True),
                                    "infer_foreign_keys")
    tables = raw.get("tables", {})
    if not isinstance(tables, Mapping):
        raise opts.error("must be a table of tables: [systems.tables.NAME]", "tables")
    for name, table_raw in tables.items():
        opts.tables[str(name)] = _table_options(opts, str(name), table_raw)
    for column, target in system.references.items():
        parts = str(target).split(".")
        if len(parts) != 3 or not all(parts):
            raise opts.error('must be "system.table.column"', "references", column)
        opts.references[str(column)] = (parts[0], parts[1], parts[2])
    return opts


def _table_options(opts: SqlOptions, table: str, raw: Any) -> TableOptions:
    where = ("tables", table)
    if not isinstance(raw, Mapping):
        raise opts.error("must be a table of settings", *where)
    unknown = sorted(set(raw) - set(_TABLE_OPTIONS))
    if unknown:
        raise opts.error(f"unknown setting(s) {unknown}; known: {sorted(_TABLE_OPTIONS)}",
                         *where, unknown[0])
    out = TableOptions()
    out.exclude = _bool(opts, raw.get("exclude", False), *where, "exclude")
    if "identity" in raw:
        out.identity = _identity(opts, raw["identity"], where)
    if "categories" in raw:
        out.categories = [_group(opts, g, *where, "categories")
                          for g in _text_list(opts, raw["categories"], *where, "categories")]
    if "party" in raw:
        party = raw["party"]
        if party not in ("person", "organisation"):
            raise opts.error('must be "person" or "organisation"', *where, "party")
        out.party = party
    if "party_column" in raw:
        out.party_column = _text(opts, raw["party_column"], *where, "party_column")
    for key in ("person_values", "organisation_values"):
        if key in raw:
            if "party_column" not in raw:
                raise opts.error("needs party_column", *where, key)
            values = frozenset(normalise_party_value(v)
                               for v in _text_list(opts, raw[key], *where, key))
            setattr(out, key, values)
    if out.party_column and out.person_values is None and out.organisation_values is None:
        raise opts.error("party_column needs person_values (or organisation_values)",
                         *where, "party_column")
    if out.party and out.party_column:
        raise opts.error("give party or party_column, not both", *where, "party")
    if "person" in raw:
        out.person = _bool(opts, raw["person"], *where, "person")
    if "free_text" in raw:
        out.free_text = _text_list(opts, raw["free_text"], *where, "free_text")
    out.ignore = frozenset(_text_list(opts, raw.get("ignore", []), *where, "ignore"))
    if "key" in raw:
        out.key = _text_list(opts, raw["key"], *where, "key") or None
    fks = raw.get("foreign_keys", {})
    if not isinstance(fks, Mapping):
        raise opts.error('must map a column to "table.column"', *where, "foreign_keys")
    for column, target in fks.items():
        parts = str(target).rsplit(".", 1)
        if len(parts) != 2 or not all(parts):
            raise opts.error('must be "table.column"', *where, "foreign_keys", str(column))
        out.foreign_keys[str(column)] = (parts[0], parts[1])
    if "erasure" in raw:
        erasure = raw["erasure"]
        if erasure not in ERASURE_STRATEGIES:
            raise opts.error(f"must be one of {sorted(ERASURE_STRATEGIES)}", *where, "erasure")
        out.erasure = erasure
    if "anonymise" in raw:
        out.anonymise = _anonymise(opts, raw["anonymise"], where)
    for action in MARKER_STRATEGIES:
        if action in raw:
            setattr(out, action, _marker(opts, raw[action], (*where, action)))
    if out.erasure in MARKER_STRATEGIES and out.marker(out.erasure) is None:
        raise opts.error(f"erasure = {out.erasure!r} needs the table's {out.erasure} marker "
                         f"(e.g. {out.erasure} = \"do_not_contact\")", *where, "erasure")
    return out


def _anonymise(opts: SqlOptions, raw: Any, where: tuple[str, ...]) -> dict[str, Any]:
    """``["email", "notes"]`` (each overwritten by NULL or a placeholder) or
    ``{ email = "erased@example.invalid", score = 0 }`` (fixed values)."""
    path = (*where, "anonymise")
    if isinstance(raw, Mapping):
        return _fixed_values(opts, raw, path)
    columns = _text_list(opts, raw, *path)
    if not columns:
        raise opts.error("names no column", *path)
    return dict.fromkeys(columns)


def _marker(opts: SqlOptions, raw: Any, path: tuple[str, ...]) -> dict[str, Any]:
    """``"do_not_contact"`` (set to true) or ``{ status = "suppressed", dnc = 1 }``."""
    if isinstance(raw, str):
        return {_text(opts, raw, *path): True}
    if not isinstance(raw, Mapping):
        raise opts.error('must be a column name or a table { column = value }', *path)
    return _fixed_values(opts, raw, path)


def _fixed_values(opts: SqlOptions, raw: Mapping[str, Any],
                  path: tuple[str, ...]) -> dict[str, Any]:
    if not raw:
        raise opts.error("names no column", *path)
    out: dict[str, Any] = {}
    for column, value in raw.items():
        if not isinstance(value, _SCALARS):
            raise opts.error("must be a string, number, boolean or date", *path, str(column))
        out[str(column)] = value
    return out


def _identity(opts: SqlOptions, raw: Any, where: tuple[str, ...]) -> dict[str, list[str]]:
    if not isinstance(raw, Mapping):
        raise opts.error('must map an identifier type to columns, e.g. { email = "email" }',
                         *where, "identity")
    out: dict[str, list[str]] = {}
    for kind, columns in raw.items():
        path = (*where, "identity", str(kind))
        if kind not in IDENTITY_KEYS:
            raise opts.error(f"unknown identifier type; known: {sorted(IDENTITY_KEYS)}", *path)
        names = _text_list(opts, columns, *path)
        if kind == "name":
            # [first, last] or one full-name column
            if len(names) == 2:
                out.setdefault("first_name", []).append(names[0])
                out.setdefault("last_name", []).append(names[1])
                continue
            if len(names) != 1:
                raise opts.error('give one full-name column or ["first", "last"]', *path)
            out.setdefault("full_name", []).extend(names)
        elif kind == "bank_account" and len(names) == 2:
            out.setdefault("sort_code", []).append(names[0])
            out.setdefault("bank_account_number", []).append(names[1])
        else:
            out.setdefault(str(kind), []).extend(names)
    return out


def normalise_party_value(value: str) -> str:
    return " ".join(value.lower().replace("_", " ").replace("-", " ").split())


def _group(opts: SqlOptions, value: str, *path: str) -> str:
    group = data_group(value)
    if group is None:
        raise opts.error(f"unknown data group {value!r}; the policy's groups are "
                         f"{list(DATA_GROUPS)}", *path)
    return group


def _text(opts: SqlOptions, value: Any, *path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise opts.error("must be a non-empty string", *path)
    return value.strip()


def _text_list(opts: SqlOptions, value: Any, *path: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise opts.error("must be a string or a list of strings", *path)
    return [v.strip() for v in value]


def _bool(opts: SqlOptions, value: Any, *path: str) -> bool:
    if not isinstance(value, bool):
        raise opts.error("must be true or false", *path)
    return value
