"""The files connector's options from a ``[[systems]]`` table, validated up front.

Everything is optional: a share given only its URL is searched whole, every format an
extractor reads. Errors name the system and the key (``systems.share.extraction.max_depth``).
Connection settings (``password``, ``key_file``, ``known_hosts``...) belong to the
transports and are checked by them.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

from agent.config import SystemConfig
from agent.errors import ConfigError
from agent.extractors import ExtractLimits
from agent.option_values import EXTRACTION_HELP, extraction_limits, number, text_list
from connectors.files.transports import TRANSPORT_KEYS

_OPTIONS = {
    "include": "glob patterns of paths to search (default: every file)",
    "exclude": "glob patterns of paths to leave out",
    "max_file_bytes": "files larger than this are reported, not read (default 1 GiB)",
    "workers": "files read in parallel, one connection each (default 4 for sftp:// and "
               "smb://, 1 for file://)",
    "file_timeout": "seconds one file may take before it is reported (default 120)",
    "quarantine": "a folder (relative to the root) files are moved to instead of being "
                  "deleted where they cannot be rewritten; never searched",
    "quarantine_days": "how long a quarantined file is kept before a person decides "
                       "(default 90)",
    "extraction": EXTRACTION_HELP,
}


@dataclass
class FilesOptions:
    system: str
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_file_bytes: int = 1 << 30
    workers: int = 4
    file_timeout: float = 120.0
    limits: ExtractLimits = field(default_factory=ExtractLimits)
    quarantine: str | None = None  # relative to the root, "/"-separated
    quarantine_days: int = 90

    def key(self, *parts: str) -> str:
        return ".".join(("systems", self.system, *parts))

    def error(self, message: str, *parts: str) -> ConfigError:
        return ConfigError(f"system {self.system!r}: {message}", key=self.key(*parts))

    def wanted(self, path: str) -> bool:
        """Whether ``path`` (relative to the root) is searched under include/exclude."""
        if self.quarantine and (path.lower() + "/").startswith(self.quarantine.lower() + "/"):
            return False  # quarantined files are out of use: never searched again
        if self.include and not any(_glob(path, p) for p in self.include):
            return False
        return not any(_glob(path, p) for p in self.exclude)


def _glob(path: str, pattern: str) -> bool:
    """Case-insensitive (Windows shares are); a pattern without ``/`` may match the file
    name alone, one with ``/`` matches the whole path (``*`` crosses folders)."""
    path, pattern = path.lower(), pattern.lower().lstrip("/")
    if fnmatch.fnmatchcase(path, pattern):
        return True
    if pattern.endswith("/") and path.startswith(pattern):
        return True  # "archive/" means the folder and everything in it
    return "/" not in pattern and fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], pattern)


def parse_options(system: SystemConfig) -> FilesOptions:
    opts = FilesOptions(system=system.name)
    raw = dict(system.options)
    unknown = sorted(set(raw) - set(_OPTIONS) - TRANSPORT_KEYS)
    if unknown:
        raise opts.error(f"unknown option(s) {unknown}; the files connector knows "
                         f"{sorted(_OPTIONS)} and the connection settings "
                         f"{sorted(TRANSPORT_KEYS)}", unknown[0])
    opts.include = tuple(text_list(opts, raw.get("include", []), "include"))
    opts.exclude = tuple(text_list(opts, raw.get("exclude", []), "exclude"))
    opts.max_file_bytes = int(number(opts, raw.get("max_file_bytes", opts.max_file_bytes),
                                      1, 1 << 50, "max_file_bytes", whole=True))
    # Reading a local disk is CPU-bound Python work, which threads only slow down; a
    # server's latency is what parallel connections hide.
    default_workers = 1 if system.url.lower().startswith("file:") else 4
    opts.workers = int(number(opts, raw.get("workers", default_workers), 1, 64, "workers",
                               whole=True))
    opts.file_timeout = number(opts, raw.get("file_timeout", opts.file_timeout), 0.001, 86_400,
                                "file_timeout")
    _quarantine(opts, raw)
    opts.limits = extraction_limits(opts, raw.get("extraction", {}), opts.file_timeout)
    return opts


def _quarantine(opts: FilesOptions, raw: dict[str, Any]) -> None:
    from connectors.files.transport import UnsafePath, safe_relative

    folder = raw.get("quarantine")
    if folder is not None:
        if not isinstance(folder, str) or not folder.strip():
            raise opts.error("must be a folder relative to the share root", "quarantine")
        try:
            opts.quarantine = safe_relative(folder.strip())
        except UnsafePath as exc:
            raise opts.error(str(exc), "quarantine") from None
        if not opts.quarantine:
            raise opts.error("must be a folder below the share root, not the root",
                             "quarantine")
    opts.quarantine_days = int(number(opts, raw.get("quarantine_days", 90), 1, 36_500,
                                       "quarantine_days", whole=True))
