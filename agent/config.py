"""agent.toml: load, resolve ``${ENV_VAR}`` secrets, validate with errors that say where.

Secrets (anything that came from an environment reference, and URL passwords) are kept
out of every display form: ``SystemConfig.display_url`` and ``Config.secrets`` feed the log
redactor.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from agent.errors import ConfigError

DEFAULT_CONFIG = "agent.toml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SYSTEM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")

AGENT_KEYS = {
    "state": "state store URL (SQLAlchemy); default a SQLite file beside the config",
    "hmac_key": "path of the HMAC key for identifier digests (created on first use, 0600)",
    "max_depth": "rounds of identity expansion after the first search (default 3)",
    "workers": "systems searched in parallel (default 8)",
    "log_level": "debug | info | warning | error (default info)",
}
SYSTEM_KEYS = {"name", "connector", "url", "enabled", "timeout", "references", "description"}

# URL scheme -> connector, for systems that leave ``connector`` out.
SCHEME_CONNECTORS = {
    "sqlite": "sql", "postgresql": "sql", "postgres": "sql", "mysql": "sql", "mariadb": "sql",
    "mssql": "sql", "file": "files", "sftp": "files", "smb": "files", "s3": "s3",
}


def mask_url(url: str) -> str:
    """The URL with any password replaced, safe to print."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{userinfo}:***@{netloc[1]}"))


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

    @property
    def display_url(self) -> str:
        return mask_url(self.url)

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "connector": self.connector, "url": self.display_url,
                "enabled": self.enabled, "description": self.description}


@dataclass
class Config:
    path: Path | None
    state_url: str
    hmac_key_path: Path
    max_depth: int = 3
    workers: int = 8
    log_level: str = "info"
    systems: list[SystemConfig] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)
    raw: dict[str, Any] = field(default_factory=dict)

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


def find_config_path(explicit: str | None) -> Path:
    return Path(explicit or os.environ.get("DSR_CONFIG") or DEFAULT_CONFIG)


def load_config(path: str | Path | None = None, *, required: bool = True) -> Config:
    """Load and validate; a missing default file gives an empty config unless required."""
    cfg_path = Path(path) if path else find_config_path(None)
    if not cfg_path.exists():
        if required:
            raise ConfigError("configuration file not found (create one with `dsr init`)",
                              path=str(cfg_path))
        return _build({}, None)
    try:
        data = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=str(cfg_path)) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=str(cfg_path)) from exc
    return _build(data, cfg_path)


def config_from_dict(data: dict[str, Any], base_dir: Path | None = None) -> Config:
    """Build a Config from already-parsed TOML (tests, the demo)."""
    return _build(data, None, base_dir=base_dir)


def _build(data: dict[str, Any], path: Path | None, base_dir: Path | None = None) -> Config:
    where = str(path) if path else "<config>"
    base = base_dir or (path.parent if path else Path.cwd())
    resolve = _Resolver(where)

    unknown_top = set(data) - {"agent", "systems", "policy"}
    if unknown_top:
        raise ConfigError(f"unknown section(s) {sorted(unknown_top)}; expected [agent], "
                          "[[systems]], [policy]", path=where)
    agent = data.get("agent", {})
    if not isinstance(agent, dict):
        raise ConfigError("must be a table", path=where, key="agent")
    unknown = set(agent) - set(AGENT_KEYS)
    if unknown:
        raise ConfigError(f"unknown key(s) {sorted(unknown)}; known: {sorted(AGENT_KEYS)}",
                          path=where, key="agent")
    agent = resolve(agent, "agent")

    state = agent.get("state", f"sqlite:///{(base / 'dsr-state.sqlite').as_posix()}")
    if not isinstance(state, str) or "://" not in state:
        raise ConfigError("must be a database URL like sqlite:///state.sqlite",
                          path=where, key="agent.state")
    state = _anchor_sqlite(state, base)
    hmac_key = Path(agent.get("hmac_key", "keys/hmac.key"))
    if not hmac_key.is_absolute():
        hmac_key = base / hmac_key
    max_depth = _int(agent.get("max_depth", 3), where, "agent.max_depth", 0, 10)
    workers = _int(agent.get("workers", 8), where, "agent.workers", 1, 64)
    log_level = str(agent.get("log_level", "info")).lower()
    if log_level not in {"debug", "info", "warning", "error"}:
        raise ConfigError("must be debug, info, warning or error", path=where,
                          key="agent.log_level")

    systems_raw = data.get("systems", [])
    if not isinstance(systems_raw, list):
        raise ConfigError("must be an array of tables ([[systems]])", path=where, key="systems")
    systems: list[SystemConfig] = []
    seen: set[str] = set()
    for index, raw in enumerate(systems_raw):
        system = _system(raw, index, where, resolve, base)
        if system.name in seen:
            raise ConfigError(f"duplicate system name {system.name!r}", path=where,
                              key=f"systems[{index}].name")
        seen.add(system.name)
        systems.append(system)

    return Config(path=path, state_url=state, hmac_key_path=hmac_key, max_depth=max_depth,
                  workers=workers, log_level=log_level, systems=systems,
                  secrets=resolve.secrets | _url_passwords(systems), raw=data)


def _system(raw: Any, index: int, where: str, resolve: _Resolver, base: Path) -> SystemConfig:
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
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    connector = raw.get("connector") or SCHEME_CONNECTORS.get(scheme)
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
    options = {k: v for k, v in raw.items() if k not in SYSTEM_KEYS}
    resolved = resolve({"url": url, "options": options}, key)
    return SystemConfig(name=name, connector=connector, url=resolved["url"],
                        options=resolved["options"], references=dict(references),
                        enabled=enabled, timeout=float(timeout),
                        description=str(raw.get("description", "")), base_dir=base)


def _anchor_sqlite(url: str, base: Path) -> str:
    """A relative SQLite path means relative to the config file, not the current folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + (base / url[len(prefix):]).as_posix()
    return url


def _int(value: Any, where: str, key: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"must be a whole number from {low} to {high}", path=where, key=key)
    return value


def _url_passwords(systems: list[SystemConfig]) -> set[str]:
    out = set()
    for s in systems:
        try:
            password = urlsplit(s.url).password
        except ValueError:
            continue
        if password:
            out.add(password)
    return out
