"""agent.toml: load, resolve ``${ENV_VAR}`` secrets, validate with errors that say where.

Secrets (anything that came from an environment reference, and URL passwords) are kept
out of every display form: ``SystemConfig.display_url`` and ``Config.secrets`` feed the log
redactor.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from agent.errors import ConfigError
from agent.policy import DEFAULT_POLICY, Policy, load_policy, policy_from_dict
from agent.sampling import (
    DEFAULT_OBJECTS_PER_PREFIX,
    DEFAULT_TEXT_BYTES,
    DEFAULT_VALUES_PER_COLUMN,
    SampleOptions,
)

DEFAULT_CONFIG = "agent.toml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SYSTEM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")

AGENT_KEYS = {
    "state": "state store URL (SQLAlchemy); default a SQLite file beside the config",
    "hmac_key": "path of the HMAC key for identifier digests (created on first use, 0600)",
    "signing_keys": "folder of the Ed25519 receipt signing keys (dsr keys init; default "
                    "keys/signing/)",
    "max_depth": "rounds of identity expansion after the first search (default 3)",
    "workers": "systems searched in parallel (default 8)",
    "log_level": "debug | info | warning | error (default info)",
    "policy": "path of the policy file (default: policy.toml beside this file, if present)",
    "plan_expiry_days": "days an unexecuted plan stays valid (default 7)",
    "exports": "folder for access and portability exports (default exports/ beside this file)",
    "export_retention_days": "days kept exports stay before they are removed (default 30)",
    "callback_hosts": "hosts the HTTP API may send OpenGDPR status callbacks to: "
                      "\"host\" or \"host:port\", globs allowed (default: none, so "
                      "callbacks are refused)",
}
DISCOVERY_KEYS = {
    "values_per_column": "values a sweep samples per database column (default 10000)",
    "text_bytes": "characters of text a sweep reads per file or object: its head plus "
                  "random slices (default 262144)",
    "objects_per_prefix": "objects a sweep samples per bucket prefix (default 200)",
}
SYSTEM_KEYS = {"name", "connector", "url", "enabled", "timeout", "references", "description"}

# URL scheme -> connector, for systems that leave ``connector`` out.
SCHEME_CONNECTORS = {
    "sqlite": "sql", "postgresql": "sql", "postgres": "sql", "mysql": "sql", "mariadb": "sql",
    "mssql": "sql", "file": "files", "sftp": "files", "smb": "files", "s3": "s3",
    "manual": "manual",
}


# ``scheme://user:password@host...``. Passwords pasted in unescaped may hold ``@ / # ?``,
# which fool urlsplit; the password runs to the last ``@``, so a mistake over-masks.
_URL_PASSWORD = re.compile(
    r"^(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:@/?#]*):(?P<password>.*)@(?P<rest>[^@]*)$",
    re.DOTALL)


def url_password(url: str) -> str | None:
    match = _URL_PASSWORD.match(url)
    return match.group("password") if match and match.group("password") else None


# Query parameters that carry credentials (?password=, &sas_token=, &X-Amz-Signature=).
_SECRET_PARAM = re.compile(
    r"([?&][^=&#]*(?:pass|pwd|secret|token|key|sig|credential)[^=&#]*=)[^&#]*", re.IGNORECASE)


def mask_url(url: str, secrets: set[str] | frozenset[str] = frozenset()) -> str:
    """The URL with its password, credential parameters and any of ``secrets`` masked.

    A secret that is the whole URL (``url = "${CRM_URL}"``) is shown with those parts
    masked rather than as ``***``, so an admin can still see which system it is.
    """
    original = url
    match = _URL_PASSWORD.match(url)
    if match and match.group("password"):
        url = f"{match.group('head')}:***@{match.group('rest')}"
    url = _SECRET_PARAM.sub(r"\1***", url)
    for secret in sorted(secrets, key=len, reverse=True):
        if secret != original:
            url = url.replace(secret, "***")
    return url


@dataclass
class SystemConfig:
    name: str
    connector: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)
    references: dict[str, str] = field(default_factory=dict)
    enabled: bool = True
    timeout: float = 60.0
    description: str = ""
    base_dir: Path = field(default_factory=Path.cwd)
    # values expanded from ${ENV_VAR} references in this system's settings
    secrets: set[str] = field(default_factory=set, repr=False)

    @property
    def display_url(self) -> str:
        return mask_url(self.url, self.secrets)

    def __repr__(self) -> str:
        # never the raw URL or option values: either may hold a secret
        return (f"SystemConfig(name={self.name!r}, connector={self.connector!r}, "
                f"url={self.display_url!r}, options={sorted(self.options)!r}, "
                f"enabled={self.enabled!r})")

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "connector": self.connector, "url": self.display_url,
                "enabled": self.enabled, "description": self.description}


@dataclass
class Config:
    path: Path | None
    state_url: str
    hmac_key_path: Path
    signing_keys_path: Path = field(default_factory=lambda: Path("keys/signing"))
    max_depth: int = 3
    workers: int = 8
    log_level: str = "info"
    plan_expiry_days: int = 7
    exports_dir: Path = field(default_factory=lambda: Path("exports"))
    export_retention_days: int = 30
    callback_hosts: tuple[str, ...] = ()
    discovery: SampleOptions = field(default_factory=lambda: SampleOptions())
    systems: list[SystemConfig] = field(default_factory=list)
    policy: Policy | None = None
    secrets: set[str] = field(default_factory=set, repr=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def system(self, name: str) -> SystemConfig:
        for s in self.systems:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.systems) or "none configured"
        raise ConfigError(f"no system named {name!r} (known: {known})",
                          path=str(self.path) if self.path else None, key="systems")


class _Resolver:
    """Expands ``${VAR}`` in strings, remembering every expanded value as a secret."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.secrets: set[str] = set()

    def __call__(self, value: Any, key: str) -> Any:
        if isinstance(value, str):
            def expand(m: re.Match[str]) -> str:
                var = m.group(1)
                if var not in os.environ:
                    raise ConfigError(f"environment variable {var} is not set", path=self.path,
                                      key=key)
                secret = os.environ[var]
                if secret:
                    self.secrets.add(secret)
                return secret
            return _ENV_REF.sub(expand, value)
        if isinstance(value, dict):
            return {k: self(v, f"{key}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [self(v, f"{key}[{i}]") for i, v in enumerate(value)]
        return value


def find_config_path(explicit: str | Path | None) -> Path:
    """``--config``, else ``$DSR_CONFIG``, else ``./agent.toml``."""
    return Path(explicit or os.environ.get("DSR_CONFIG") or DEFAULT_CONFIG).expanduser()


def load_config(path: str | Path | None = None, *, required: bool = True,
                schemes: Mapping[str, str] | None = None) -> Config:
    """Load and validate; a missing default file gives an empty config unless required.
    ``schemes``: URL scheme -> connector, from the registered connectors' ``url_schemes``,
    over the built-in ``SCHEME_CONNECTORS``."""
    cfg_path = find_config_path(path)
    if not cfg_path.exists():
        if required:
            raise ConfigError("configuration file not found (create one with `dsr init`)",
                              path=str(cfg_path))
        return _build({}, None, schemes=schemes)
    try:
        data = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=str(cfg_path)) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=str(cfg_path)) from exc
    return _build(data, cfg_path, schemes=schemes)


def config_from_dict(data: dict[str, Any], base_dir: Path | None = None) -> Config:
    """Build a Config from already-parsed TOML (tests, the demo)."""
    return _build(data, None, base_dir=base_dir)


def _section(raw: Any, known: dict[str, str], where: str, key: str) -> dict[str, Any]:
    """A top-level table whose keys must all be known."""
    if not isinstance(raw, dict):
        raise ConfigError("must be a table", path=where, key=key)
    unknown = set(raw) - set(known)
    if unknown:
        raise ConfigError(f"unknown key(s) {sorted(unknown)}; known: {sorted(known)}",
                          path=where, key=key)
    return raw


def _discovery(raw: Any, where: str) -> SampleOptions:
    raw = _section(raw, DISCOVERY_KEYS, where, "discovery")
    return SampleOptions(
        values_per_column=_int(raw.get("values_per_column", DEFAULT_VALUES_PER_COLUMN), where,
                               "discovery.values_per_column", 10, 1_000_000),
        text_bytes=_int(raw.get("text_bytes", DEFAULT_TEXT_BYTES), where,
                        "discovery.text_bytes", 1024, 64 * 1024 * 1024),
        objects_per_prefix=_int(raw.get("objects_per_prefix", DEFAULT_OBJECTS_PER_PREFIX),
                                where, "discovery.objects_per_prefix", 1, 1_000_000))


def _build(data: dict[str, Any], path: Path | None, base_dir: Path | None = None, *,
           schemes: Mapping[str, str] | None = None) -> Config:
    where = str(path) if path else "<config>"
    # absolute, so relative paths in the file keep meaning the config's folder after a chdir
    base = (base_dir or (path.parent if path else Path.cwd())).resolve()
    resolve = _Resolver(where)

    unknown_top = set(data) - {"agent", "systems", "policy", "discovery"}
    if unknown_top:
        raise ConfigError(f"unknown section(s) {sorted(unknown_top)}; expected [agent], "
                          "[[systems]], [discovery], [policy]", path=where)
    agent = resolve(_section(data.get("agent", {}), AGENT_KEYS, where, "agent"), "agent")

    state = agent.get("state", f"sqlite:///{(base / 'dsr-state.sqlite').as_posix()}")
    if not isinstance(state, str) or "://" not in state:
        raise ConfigError("must be a database URL like sqlite:///state.sqlite",
                          path=where, key="agent.state")
    state = _anchor_sqlite(state, base)
    hmac_key = _path(agent.get("hmac_key", "keys/hmac.key"), base, where, "agent.hmac_key",
                     "a file path")
    signing_keys = _path(agent.get("signing_keys", "keys/signing"), base, where,
                         "agent.signing_keys", "a folder path")
    max_depth = _int(agent.get("max_depth", 3), where, "agent.max_depth", 0, 10)
    workers = _int(agent.get("workers", 8), where, "agent.workers", 1, 64)
    log_level = agent.get("log_level", "info")
    if not isinstance(log_level, str) or log_level.lower() not in {
            "debug", "info", "warning", "error"}:
        raise ConfigError("must be debug, info, warning or error", path=where,
                          key="agent.log_level")
    log_level = log_level.lower()
    plan_expiry = _int(agent.get("plan_expiry_days", 7), where, "agent.plan_expiry_days", 1, 90)
    exports_dir = _path(agent.get("exports", "exports"), base, where, "agent.exports",
                        "a folder path")
    export_retention = _int(agent.get("export_retention_days", 30), where,
                            "agent.export_retention_days", 1, 3650)
    callback_hosts = agent.get("callback_hosts", [])
    if not isinstance(callback_hosts, list) or not all(
            isinstance(h, str) and h.strip() and "/" not in h for h in callback_hosts):
        raise ConfigError('must be a list of "host" or "host:port" patterns', path=where,
                          key="agent.callback_hosts")

    systems_raw = data.get("systems", [])
    if not isinstance(systems_raw, list):
        raise ConfigError("must be an array of tables ([[systems]])", path=where, key="systems")
    systems: list[SystemConfig] = []
    seen: set[str] = set()
    scheme_connectors = {**SCHEME_CONNECTORS, **(schemes or {})}
    for index, raw in enumerate(systems_raw):
        system = _system(raw, index, where, resolve, base, scheme_connectors)
        if system.name in seen:
            raise ConfigError(f"duplicate system name {system.name!r}", path=where,
                              key=f"systems[{index}].name")
        seen.add(system.name)
        systems.append(system)

    policy = _policy(data, agent, where, base)
    discovery = _discovery(data.get("discovery", {}), where)
    return Config(path=path, state_url=state, hmac_key_path=hmac_key,
                  signing_keys_path=signing_keys, max_depth=max_depth,
                  workers=workers, log_level=log_level, plan_expiry_days=plan_expiry,
                  exports_dir=exports_dir, export_retention_days=export_retention,
                  callback_hosts=tuple(h.strip().lower() for h in callback_hosts),
                  discovery=discovery, systems=systems, policy=policy,
                  secrets=resolve.secrets | _url_passwords([state, *(s.url for s in systems)]),
                  raw=data)


def _system(raw: Any, index: int, where: str, resolve: _Resolver, base: Path,
            schemes: Mapping[str, str]) -> SystemConfig:
    key = f"systems[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError("must be a table", path=where, key=key)
    name = raw.get("name")
    if not isinstance(name, str) or not _SYSTEM_NAME.match(name):
        raise ConfigError("name is required: a letter, then letters, digits, - or _",
                          path=where, key=f"{key}.name")
    key = f"systems.{name}"
    url = raw.get("url")
    if not isinstance(url, str) or not url.strip():
        raise ConfigError("url is required (e.g. postgresql+psycopg://user@host/db, "
                          "sqlite:///crm.sqlite)", path=where, key=f"{key}.url")
    # Resolve per system so its display URL masks exactly the secrets it was given; the URL
    # first, since the connector may follow from its scheme.
    before = set(resolve.secrets)
    resolve.secrets = set()
    url = resolve(url, f"{key}.url")
    options = {k: resolve(v, f"{key}.{k}") for k, v in raw.items() if k not in SYSTEM_KEYS}
    own = resolve.secrets
    resolve.secrets = before | own
    url = _anchor_sqlite(url, base)
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if "connector" in raw and (not isinstance(raw["connector"], str)
                               or not raw["connector"].strip()):
        raise ConfigError("must be a connector name, e.g. \"sql\" (see `dsr plugins list`)",
                          path=where, key=f"{key}.connector")
    connector = raw.get("connector") or schemes.get(scheme)
    if not isinstance(connector, str) or not connector:
        raise ConfigError(f"connector is required: the URL scheme {scheme!r} does not name one",
                          path=where, key=f"{key}.connector")
    references = raw.get("references", {})
    if not isinstance(references, dict) or not all(
            isinstance(v, str) and v.count(".") == 2 for v in references.values()):
        raise ConfigError('references map a column to "system.table.column", e.g. '
                          'contact_id = "crm.contacts.id"', path=where, key=f"{key}.references")
    timeout = raw.get("timeout", 60)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        raise ConfigError("must be a positive number of seconds", path=where,
                          key=f"{key}.timeout")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError("must be true or false", path=where, key=f"{key}.enabled")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise ConfigError("must be text", path=where, key=f"{key}.description")
    return SystemConfig(name=name, connector=connector, url=url, options=options,
                        references=dict(references), enabled=enabled, timeout=float(timeout),
                        description=description, base_dir=base, secrets=own)


def _policy(data: dict[str, Any], agent: dict[str, Any], where: str, base: Path
            ) -> Policy | None:
    """An inline [policy] table, else [agent] policy = PATH, else policy.toml beside us."""
    inline = data.get("policy")
    if inline is not None:
        if "policy" in agent:
            raise ConfigError("give [agent] policy = PATH or a [policy] table, not both",
                              path=where, key="agent.policy")
        if not isinstance(inline, dict):
            raise ConfigError("must be a table", path=where, key="policy")
        return policy_from_dict(inline, f"{where} [policy]")
    named = agent.get("policy")
    if named is not None:
        if not isinstance(named, str) or not named.strip():
            raise ConfigError("must be the path of a policy file", path=where,
                              key="agent.policy")
        path = Path(named) if Path(named).is_absolute() else base / named
        if not path.exists():
            raise ConfigError(f"policy file not found: {path}", path=where, key="agent.policy")
        return load_policy(path)
    beside = base / DEFAULT_POLICY
    return load_policy(beside) if beside.exists() else None


def _anchor_sqlite(url: str, base: Path) -> str:
    """A relative SQLite path means relative to the config file, not the current folder."""
    scheme, sep, rest = url.partition(":///")
    if (sep and scheme.split("+", 1)[0].lower() == "sqlite" and rest
            and not rest.startswith("/") and ":memory:" not in rest):
        return f"{scheme}:///{(base / rest).as_posix()}"
    return url


def _path(value: Any, base: Path, where: str, key: str, what: str) -> Path:
    """A path setting; relative means relative to the config file's folder."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"must be {what}", path=where, key=key)
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _int(value: Any, where: str, key: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"must be a whole number from {low} to {high}", path=where, key=key)
    return value


def _url_passwords(urls: list[str]) -> set[str]:
    """Passwords written into URLs, as written and percent-decoded (drivers log either)."""
    out: set[str] = set()
    for url in urls:
        password = url_password(url)
        if password:
            out |= {password, unquote(password)}
    return out
