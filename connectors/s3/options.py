"""The s3 connector's options from a ``[[systems]]`` table, validated up front.

A bucket given only its URL (``s3://bucket/prefix``) is searched whole under that prefix,
with credentials from the standard boto3 chain (environment, shared files, instance role).
Errors name the system and the key (``systems.exports.backup_mode``) and never a value that
could be a secret. ``${ENV}`` references are expanded by ``agent.config`` before this runs.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from agent.config import SystemConfig
from agent.errors import ConfigError
from agent.extractors import ExtractLimits
from agent.option_values import EXTRACTION_HELP, extraction_limits, number, text_list
from connectors.files.sweep import VERSION_MARK

OPTIONS = {
    "endpoint_url": "an S3-compatible store's endpoint (http(s)://host[:port]); default AWS",
    "region": "the bucket's region (default: the boto3 chain's)",
    "access_key_id": "access key (use a ${ENV} reference); default: the boto3 chain",
    "secret_access_key": "secret key, with access_key_id (use a ${ENV} reference)",
    "session_token": "temporary credentials' token, with the two keys",
    "profile": "a named profile of the shared AWS config files",
    "include": "glob patterns of keys to search (default: every object)",
    "exclude": "glob patterns of keys to leave out",
    "workers": "objects read in parallel (default 8)",
    "max_object_bytes": "objects larger than this are reported, not read (default 1 GiB)",
    "object_timeout": "seconds one object may take before it is reported (default 120)",
    "versions": "search non-current versions of a versioned bucket too (default true)",
    "backup_prefixes": "key prefixes holding backups (dumps, snapshots)",
    "backup_mode": "what happens to the subject in backups: \"beyond_use\" (default) or "
                   "\"rewrite\"",
    "page_size": "keys per listing request (1 to 1000, default 1000)",
    "connect_timeout": "seconds to wait for the endpoint to answer (default 10)",
    "read_timeout": "seconds one request may wait for data (default 60)",
    "extraction": EXTRACTION_HELP,
}
BACKUP_MODES = ("beyond_use", "rewrite")
AGENT_FOLDER = ".dsr/"  # under the prefix: what the agent writes, never searched
# S3 bucket names, and the looser ones older S3-compatible stores allow (upper case, _)
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$")


@dataclass
class S3Options:
    system: str
    bucket: str = ""
    prefix: str = ""  # "" or ending in "/": the URL's path is a folder
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    profile: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    workers: int = 8
    max_object_bytes: int = 1 << 30
    object_timeout: float = 120.0
    versions: bool = True
    backup_prefixes: tuple[str, ...] = ()
    backup_mode: str = "beyond_use"
    page_size: int = 1000
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    limits: ExtractLimits = field(default_factory=ExtractLimits)

    @property
    def max_file_bytes(self) -> int:  # the name the shared sweep uses
        return self.max_object_bytes

    def key(self, *parts: str) -> str:
        return ".".join(("systems", self.system, *parts))

    def error(self, message: str, *parts: str) -> ConfigError:
        return ConfigError(f"system {self.system!r}: {message}", key=self.key(*parts))

    def wanted(self, locator: str) -> bool:
        """Whether an object (its full key, or ``key?versionId=...``) is searched under
        include/exclude."""
        key = object_key(locator)
        if key.startswith(self.prefix + AGENT_FOLDER):
            return False  # the agent's own objects (the suppression manifest)
        if self.include and not any(_glob(key, p) for p in self.include):
            return False
        return not any(_glob(key, p) for p in self.exclude)

    def in_backup(self, locator: str) -> bool:
        key = object_key(locator)
        return any(key.startswith(p) for p in self.backup_prefixes)


def object_key(locator: str) -> str:
    """The key of a locator (``key`` or ``key?versionId=...``)."""
    return split_locator(locator)[0]


def split_locator(locator: str) -> tuple[str, str | None]:
    """(key, version id or None). The last ``?versionId=`` marks the version."""
    key, mark, version = locator.rpartition(VERSION_MARK)
    if not mark or not version or "/" in version:
        return locator, None
    return key, version


def make_locator(key: str, version: str | None) -> str:
    return f"{key}{VERSION_MARK}{version}" if version else key


def _glob(key: str, pattern: str) -> bool:
    """Case-sensitive, as keys are; a pattern without ``/`` may match the object's name
    alone, one with ``/`` matches the whole key (``*`` crosses folders); ``folder/`` means
    everything under it."""
    pattern = pattern.lstrip("/")
    if fnmatch.fnmatchcase(key, pattern):
        return True
    if pattern.endswith("/") and key.startswith(pattern):
        return True
    return "/" not in pattern and fnmatch.fnmatchcase(key.rsplit("/", 1)[-1], pattern)


def parse_options(system: SystemConfig) -> S3Options:
    opts = S3Options(system=system.name)
    raw = dict(system.options)
    unknown = sorted(set(raw) - set(OPTIONS))
    if unknown:
        raise opts.error(f"unknown option(s) {unknown}; the s3 connector knows "
                         f"{sorted(OPTIONS)}", unknown[0])
    _url(opts, system.url)
    _connection(opts, raw)
    opts.include = tuple(text_list(opts, raw.get("include", []), "include"))
    opts.exclude = tuple(text_list(opts, raw.get("exclude", []), "exclude"))
    opts.workers = int(number(opts, raw.get("workers", 8), 1, 64, "workers", whole=True))
    opts.max_object_bytes = int(number(opts, raw.get("max_object_bytes", 1 << 30), 1, 1 << 50,
                                        "max_object_bytes", whole=True))
    opts.object_timeout = number(opts, raw.get("object_timeout", 120), 0.001, 86_400,
                                  "object_timeout")
    opts.page_size = int(number(opts, raw.get("page_size", 1000), 1, 1000, "page_size",
                                 whole=True))
    versions = raw.get("versions", True)
    if not isinstance(versions, bool):
        raise opts.error("must be true or false", "versions")
    opts.versions = versions
    prefixes = text_list(opts, raw.get("backup_prefixes", []), "backup_prefixes",
                          what="a key prefix or a list of them")
    opts.backup_prefixes = tuple(p.lstrip("/") for p in prefixes)
    mode = raw.get("backup_mode", "beyond_use")
    if mode not in BACKUP_MODES:
        raise opts.error(f"must be one of {list(BACKUP_MODES)}", "backup_mode")
    opts.backup_mode = mode
    opts.limits = extraction_limits(opts, raw.get("extraction", {}), opts.object_timeout)
    return opts


def _url(opts: S3Options, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme.lower() != "s3" or not parts.netloc:
        raise opts.error("url must be s3://bucket or s3://bucket/prefix", "url")
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise opts.error("url must be s3://bucket/prefix (credentials, ? and # do not belong "
                         "in it: give access_key_id / secret_access_key)", "url")
    if not _BUCKET.match(parts.netloc):
        raise opts.error("the bucket name in url is not valid", "url")
    opts.bucket = parts.netloc
    prefix = unquote(parts.path).lstrip("/")
    opts.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"


def _connection(opts: S3Options, raw: dict[str, Any]) -> None:
    for name in ("endpoint_url", "region", "access_key_id", "secret_access_key",
                 "session_token", "profile"):
        value = raw.get(name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise opts.error("must be a non-empty string", name)
        setattr(opts, name, value.strip() if isinstance(value, str) else None)
    if opts.endpoint_url:
        parts = urlsplit(opts.endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise opts.error("must be an http:// or https:// URL", "endpoint_url")
    if bool(opts.access_key_id) != bool(opts.secret_access_key):
        missing = "secret_access_key" if opts.access_key_id else "access_key_id"
        raise opts.error("access_key_id and secret_access_key go together", missing)
    if opts.session_token and not opts.access_key_id:
        raise opts.error("session_token needs access_key_id and secret_access_key",
                         "session_token")
    if opts.profile and opts.access_key_id:
        raise opts.error("give either profile or access keys, not both", "profile")
    opts.connect_timeout = number(opts, raw.get("connect_timeout", 10), 0.1, 600,
                                   "connect_timeout")
    opts.read_timeout = number(opts, raw.get("read_timeout", 60), 0.1, 3600, "read_timeout")
