"""Exceptions that carry a user-facing message and the exit code the CLI maps them to.

Messages name *what* is wrong (the identifier type, the config key) and never echo a
personal-data value or a secret.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_USER_ERROR = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_VERIFICATION_FAILED = 4


class DsrError(Exception):
    """Base class: a clear message, an exit code."""

    exit_code = EXIT_USER_ERROR


class IdentifierError(DsrError):
    """An identifier could not be normalised (names the type, never echoes the value)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"invalid {kind}: {reason}")
        self.kind = kind
        self.reason = reason


class ConfigError(DsrError):
    """Configuration is missing or invalid: names the file and the key."""

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        where = ""
        if path:
            where = f"{path}: "
        if key:
            where += f"[{key}] "
        super().__init__(f"{where}{message}")
        self.path = path
        self.key = key


class PluginError(DsrError):
    """A plugin is broken: names the plugin and what it did wrong."""


class ConnectorError(DsrError):
    """A connector could not reach or read its system (message carries no secrets)."""


class NotSupported(DsrError):
    """The connector does not offer this capability."""
