"""One interface over a mounted folder, an SFTP server and an SMB share.

The ``files`` connector is written once against ``Transport``; ``file://``, ``sftp://`` and
``smb://`` URLs each get an implementation (``transports.open_transport(system)``). Every
path a transport takes or gives is relative to the configured root, with ``/`` separators;
``safe_relative`` refuses anything that would leave the root (``..``, absolute names,
drive letters, NUL), and listings never follow symbolic links or reparse points out of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from agent.errors import ConnectorError


class UnsafePath(ConnectorError):
    """A path from config, a listing or an archive would leave the share root."""


class FileUnavailable(ConnectorError):
    """One file or folder could not be read or changed (permission denied, not found, not a
    regular file, in use, already exists): report it for that path and go on. Any other
    ConnectorError from a transport means the connection failed. The message is the reason
    alone (a path can name a person); the path is on ``.path``."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Entry:
    """A regular file under the root (directories are walked, not returned)."""

    path: str  # relative to the root, "/"-separated, never starting with "/"
    size: int
    mtime: float  # seconds since the epoch


@dataclass(frozen=True)
class Skipped:
    """Something the walk could not or would not read, with the reason (never content)."""

    path: str
    reason: str  # "permission denied", "symbolic link", "not a regular file", ...


class Transport(Protocol):
    """A share root. Implementations are safe to use from one thread at a time; the
    connector opens one per worker."""

    scheme: str

    def walk(self, prefix: str = "", recursive: bool = True) -> Iterator[Entry | Skipped]:
        """Every regular file under ``prefix`` (recursively; with ``recursive=False`` only
        the files directly in it), and what was skipped and why; an unreadable folder is a
        ``Skipped``, never an exception."""
        ...

    def stat(self, path: str) -> Entry | None:
        """The file now, or None when it is gone."""
        ...

    def open_read(self, path: str) -> AbstractContextManager[BinaryIO]:
        """A binary stream of the file (buffered, seekable where the transport allows)."""
        ...

    def write_atomic(self, path: str, data: BinaryIO) -> None:
        """Replace the file with ``data`` all at once: written to a temporary name beside
        it, then renamed over it, so a reader sees the old file or the new, never half."""
        ...

    def delete(self, path: str) -> bool:
        """Remove the file; False when it was already gone."""
        ...

    def move(self, path: str, target: str) -> None:
        """Move within the root (quarantine), creating folders as needed."""
        ...

    def close(self) -> None:
        ...


def safe_relative(path: str) -> str:
    """``path`` normalised to a relative ``a/b/c`` form, or UnsafePath."""
    if "\x00" in path:
        raise UnsafePath("a path holds a NUL character")
    text = path.replace("\\", "/")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise UnsafePath("an absolute path is outside the share root")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafePath("a path with '..' could leave the share root")
    return "/".join(parts)
