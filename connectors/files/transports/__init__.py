"""Opening a share: ``open_transport(system)`` picks the transport by the URL's scheme.

- ``file:///srv/share/base`` (or ``file:relative/folder``, relative to the configuration
  file's folder): a folder mounted on this machine (``local.py``);
- ``sftp://user@host:2222/base/path``: OpenSSH and other SFTP servers, through paramiko
  (``sftp.py``); the path is absolute on the server, ``/~/path`` is relative to the login
  folder and no path at all means the login folder;
- ``smb://user@host[:port]/share/base/path``: Windows and Samba shares, SMB 2/3, through
  smbprotocol (``smb.py``).

The connection settings are options of the ``[[systems]]`` table (``TRANSPORT_OPTIONS``),
checked before anything connects; errors name ``systems.NAME.KEY`` and never carry a
password. Connection failures are ConnectorErrors naming the system, the host and the class
of failure (unreachable, authentication failed, unknown host key, connection lost...).

Also here, shared by the three transports: the sorted, bounded-memory tree walk, the
size-bounded buffered reader, and the cache of folders checked not to be links.
"""

from __future__ import annotations

import io
import math
import stat as stat_module
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from agent.config import SystemConfig
from agent.errors import ConfigError, ConnectorError
from connectors.files.transport import (
    Entry,
    FileUnavailable,
    Skipped,
    Transport,
    UnsafePath,
    safe_relative,
)

SCHEMES = ("file", "sftp", "smb")
_COMMON_REMOTE = {
    "connect_timeout": "seconds to wait for the server to answer and log in (default 10)",
    "io_timeout": "seconds one request may wait for the server before the connection counts "
                  "as lost (default 60)",
}
TRANSPORT_OPTIONS: dict[str, dict[str, str]] = {
    "file": {},
    "sftp": {
        "password": "login password (use ${ENV_VAR}); or in the URL",
        "key_file": "private key file (OpenSSH or PEM; relative to the configuration file)",
        "key_passphrase": "passphrase of key_file (use ${ENV_VAR})",
        "known_hosts": "known_hosts file the server's host key is checked against "
                       "(default ~/.ssh/known_hosts)",
        "host_key_check": "false accepts any host key, with a warning (default true)",
        **_COMMON_REMOTE,
    },
    "smb": {
        "password": "login password (use ${ENV_VAR}); or in the URL",
        "domain": "Windows domain of the user (default: none, a local account)",
        "encrypt": "true requires SMB 3 encryption (default: as the server asks)",
        "auth_protocol": "negotiate (default), ntlm or kerberos (kerberos needs no password)",
        **_COMMON_REMOTE,
    },
}
# Every option any transport reads: the connector's own unknown-option check allows these.
TRANSPORT_KEYS = frozenset(k for opts in TRANSPORT_OPTIONS.values() for k in opts)
_DEFAULT_PORTS = {"sftp": 22, "smb": 445}

# Reads: the buffered stream's size, and the most asked of a server in one request window.
READ_BUFFER = 1 << 20
COPY_CHUNK = 1 << 20


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class LocalSettings:
    system: str
    root: Path


@dataclass(frozen=True)
class RemoteSettings:
    system: str
    scheme: str
    host: str
    port: int
    user: str | None
    base: str  # the path after the host (and, for SMB, after the share), unquoted
    password: str | None = field(default=None, repr=False)
    connect_timeout: float = 10.0
    io_timeout: float = 60.0
    secrets: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def where(self) -> str:
        """The server, for messages: ``sftp 127.0.0.1:2222`` (no user, no password)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme} {host}:{self.port}"

    def failure(self, failure: str, detail: str = "") -> ConnectorError:
        """A connection-level error: system, server, class of failure, never a secret."""
        text = f"system {self.system!r}: {self.where}: {failure}"
        if detail:
            text += f" ({detail})"
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return ConnectorError(text)


@dataclass(frozen=True)
class SftpSettings(RemoteSettings):
    key_file: Path | None = None
    key_passphrase: str | None = field(default=None, repr=False)
    known_hosts: Path = field(default_factory=lambda: Path("~/.ssh/known_hosts").expanduser())
    host_key_check: bool = True


@dataclass(frozen=True)
class SmbSettings(RemoteSettings):
    share: str = ""
    domain: str | None = None
    encrypt: bool = False
    auth_protocol: str = "negotiate"


Settings = LocalSettings | SftpSettings | SmbSettings


class _Options:
    """Reads one system's transport options, raising errors that name the key."""

    def __init__(self, system: SystemConfig, scheme: str) -> None:
        self.system = system
        self.scheme = scheme
        self.raw = system.options

    def error(self, message: str, key: str) -> ConfigError:
        return ConfigError(f"system {self.system.name!r}: {message}",
                           key=f"systems.{self.system.name}.{key}")

    def check_scheme(self) -> None:
        """A connection setting of another transport is a mistake, not the connector's."""
        mine = TRANSPORT_OPTIONS[self.scheme]
        for key in sorted(set(self.raw) & (TRANSPORT_KEYS - set(mine))):
            users = [s for s, opts in TRANSPORT_OPTIONS.items() if key in opts]
            raise self.error(f"applies to {' and '.join(f'{s}://' for s in users)} URLs, "
                             f"not {self.scheme}://", key)

    def text(self, key: str) -> str | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self.error("must be a non-empty string", key)
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            raise self.error("must be true or false", key)
        return value

    def seconds(self, key: str, default: float) -> float:
        value = self.raw.get(key, default)
        if (not isinstance(value, int | float) or isinstance(value, bool)
                or not math.isfinite(value) or not 0 < value <= 3600):
            raise self.error("must be a number of seconds between 0 and 3600", key)
        return float(value)

    def path(self, key: str) -> Path | None:
        value = self.text(key)
        if value is None:
            return None
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.system.base_dir / path


def parse_transport(system: SystemConfig) -> Settings:
    """The transport settings of ``system``, validated; nothing is connected."""
    scheme = system.url.split(":", 1)[0].lower() if ":" in system.url else ""
    if scheme not in SCHEMES:
        raise ConfigError(f"system {system.name!r}: the files connector reads file://, "
                          "sftp:// and smb:// URLs", key=f"systems.{system.name}.url")
    opts = _Options(system, scheme)
    opts.check_scheme()
    if scheme == "file":
        return LocalSettings(system.name, _local_root(system, opts))
    return _sftp(system, opts) if scheme == "sftp" else _smb(system, opts)


def _local_root(system: SystemConfig, opts: _Options) -> Path:
    rest = system.url.split(":", 1)[1]
    if rest.startswith("//"):
        host, _, path = rest[2:].partition("/")
        if host not in ("", "localhost"):
            raise opts.error("a file URL names a folder on this machine: file:///srv/share, "
                             "or file:folder for one relative to the configuration file", "url")
        path = "/" + path
    else:
        path = rest
    if "?" in path or "#" in path:
        raise opts.error("a file URL takes no ?query or #fragment", "url")
    path = unquote(path)
    if not path.strip("/"):
        raise opts.error("the URL names no folder: file:///srv/share", "url")
    root = Path(path)
    return root if root.is_absolute() else system.base_dir / root


def _remote(system: SystemConfig, opts: _Options) -> dict[str, Any]:
    """What sftp:// and smb:// URLs share: host, port, user, password, timeouts."""
    try:
        parts = urlsplit(system.url)
        port = parts.port or _DEFAULT_PORTS[opts.scheme]
    except ValueError:
        raise opts.error(f"not a valid {opts.scheme} URL (a password with @ / : # ? in it "
                         "must be percent-encoded, or given as the password option)",
                         "url") from None
    if not parts.hostname:
        raise opts.error(f"the URL names no server: {opts.scheme}://user@host/...", "url")
    if parts.query or parts.fragment:
        raise opts.error("the URL takes no ?query or #fragment; give settings as keys of the "
                         "system's table", "url")
    in_url = unquote(parts.password) if parts.password else None
    option = opts.text("password")
    if in_url and option:
        raise opts.error("the password is given both in the URL and as an option; keep one",
                         "password")
    password = option or in_url
    return {
        "system": system.name, "scheme": opts.scheme, "host": parts.hostname, "port": port,
        "user": unquote(parts.username) if parts.username else None,
        "base": unquote(parts.path), "password": password,
        "connect_timeout": opts.seconds("connect_timeout", 10.0),
        "io_timeout": opts.seconds("io_timeout", 60.0),
    }


def _sftp(system: SystemConfig, opts: _Options) -> SftpSettings:
    common = _remote(system, opts)
    if not common["user"]:
        raise opts.error("an sftp URL names the user: sftp://user@host:22/path", "url")
    key_file = opts.path("key_file")
    if key_file is not None and not key_file.is_file():
        raise opts.error("no such file", "key_file")
    passphrase = opts.text("key_passphrase")
    if passphrase and key_file is None:
        raise opts.error("is for key_file, which is not set", "key_passphrase")
    if key_file is None and common["password"] is None:
        raise opts.error("sftp needs key_file or a password (password = \"${ENV_VAR}\")",
                         "key_file")
    secrets = {s for s in (common["password"], passphrase) if s}
    return SftpSettings(
        **common, secrets=frozenset(secrets | set(system.secrets)), key_file=key_file,
        key_passphrase=passphrase,
        known_hosts=opts.path("known_hosts") or Path("~/.ssh/known_hosts").expanduser(),
        host_key_check=opts.flag("host_key_check", True))


def _smb(system: SystemConfig, opts: _Options) -> SmbSettings:
    common = _remote(system, opts)
    share, _, base = common["base"].strip("/").partition("/")
    if not share:
        raise opts.error("an smb URL names the share: smb://user@host/share/folder", "url")
    auth = opts.raw.get("auth_protocol", "negotiate")
    if auth not in ("negotiate", "ntlm", "kerberos"):
        raise opts.error("must be negotiate, ntlm or kerberos", "auth_protocol")
    if auth != "kerberos" and not (common["user"] and common["password"]):
        raise opts.error("smb needs a user in the URL and a password "
                         "(password = \"${ENV_VAR}\"), or auth_protocol = \"kerberos\"",
                         "password")
    common["base"] = base
    secrets = {common["password"]} if common["password"] else set()
    return SmbSettings(**common, secrets=frozenset(secrets | set(system.secrets)), share=share,
                       domain=opts.text("domain"), encrypt=opts.flag("encrypt", False),
                       auth_protocol=auth)


def open_transport(system: SystemConfig) -> Transport:
    """A connected transport for ``system`` (ConfigError for bad settings, ConnectorError
    when the server cannot be reached or refuses us)."""
    settings = parse_transport(system)
    if isinstance(settings, LocalSettings):
        from connectors.files.transports.local import LocalTransport

        return LocalTransport(settings)
    if isinstance(settings, SftpSettings):
        from connectors.files.transports.sftp import SftpTransport

        return SftpTransport(settings)
    from connectors.files.transports.smb import SmbTransport

    return SmbTransport(settings)


# --------------------------------------------------------------------------- paths


def split(path: str) -> list[str]:
    """A relative path's parts, after ``safe_relative`` (UnsafePath otherwise)."""
    clean = safe_relative(path)
    return clean.split("/") if clean else []


def join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


def name_problem(name: str) -> str | None:
    """Why a name from a listing cannot become a path under the root, or None."""
    if name in ("", ".", "..") or any(c in name for c in "/\\\x00"):
        return "unsafe name"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "name is not valid UTF-8"
    try:
        if safe_relative(name) != name:
            return "unsafe name"
    except UnsafePath:
        return "unsafe name"
    return None


def printable(name: str) -> str:
    """A name that failed ``name_problem`` in a form safe to report."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace") \
        .replace("\x00", "\ufffd").replace("/", "\ufffd")


# --------------------------------------------------------------------------- walking

FILE = "file"
FOLDER = "folder"
SYMLINK = "symbolic link"
SPECIAL = "not a regular file"


@dataclass(frozen=True, slots=True)
class Node:
    """One name in a folder listing: ``kind`` is FILE, FOLDER, or why it is skipped."""

    name: str
    kind: str
    size: int = 0
    mtime: float = 0.0


def posix_kind(mode: int | None) -> str:
    if mode is None:
        return "unknown type"
    if stat_module.S_ISREG(mode):
        return FILE
    if stat_module.S_ISDIR(mode):
        return FOLDER
    if stat_module.S_ISLNK(mode):
        return SYMLINK
    return SPECIAL


def walk_from(prefix: str, node_of: Callable[[list[str]], Node | None],
              list_folder: Callable[[str], Iterable[Node]], link: str,
              recursive: bool = True) -> Iterator[Entry | Skipped]:
    """``Transport.walk`` for a transport that resolves a path to a Node (``node_of``,
    never through a link) and lists one folder at a time; ``link`` is the kind it reports
    links as. The start itself unreadable or a link is one Skipped, not an exception."""
    parts = split(prefix)
    try:
        top = node_of(parts)
    except FileUnavailable as exc:
        top = Node("", exc.reason)
    except UnsafePath:
        top = Node("", link)
    return walk_tree(join(*parts), top, list_folder, recursive)


def walk_tree(prefix: str, top: Node | None,
              list_folder: Callable[[str], Iterable[Node]],
              recursive: bool = True) -> Iterator[Entry | Skipped]:
    """Depth first, each folder's names in sorted order, so the output is sorted by path
    component by component. Holds one folder's listing at a time plus, per level above it,
    the names still to visit there. ``list_folder`` raises FileUnavailable for a folder it
    cannot list (reported as Skipped); anything else (a lost connection) propagates."""
    if top is None:
        yield Skipped(prefix, "not found")
        return
    if top.kind == FILE:
        yield Entry(prefix, top.size, top.mtime)
        return
    if top.kind != FOLDER:
        yield Skipped(prefix, top.kind)
        return
    first = _children(prefix, list_folder)
    if isinstance(first, Skipped):
        yield first
        return
    stack = [first]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
            continue
        path, node = item
        if node.kind == FOLDER:
            if not recursive:  # the files of this folder only: its subfolders are not read
                continue
            children = _children(path, list_folder)
            if isinstance(children, Skipped):
                yield children
            else:
                stack.append(children)
        elif node.kind == FILE:
            yield Entry(path, node.size, node.mtime)
        else:
            yield Skipped(path, node.kind)


def _children(folder: str, list_folder: Callable[[str], Iterable[Node]]
              ) -> Iterator[tuple[str, Node]] | Skipped:
    try:
        nodes = sorted(list_folder(folder), key=lambda n: n.name)
    except FileUnavailable as exc:
        return Skipped(folder, exc.reason)
    return _named(folder, nodes)


def _named(folder: str, nodes: list[Node]) -> Iterator[tuple[str, Node]]:
    for node in nodes:
        problem = name_problem(node.name)
        if problem:
            yield join(folder, printable(node.name)), Node(node.name, problem)
        else:
            yield join(folder, node.name), node


class CheckedFolders:
    """Folders under the root already seen to be real folders, not links, so the folders
    on a path are checked once per connection rather than on every call (the remote
    protocols follow links the server resolves; there is no O_NOFOLLOW to lean on)."""

    def __init__(self, check: Callable[[str], None], limit: int = 20_000) -> None:
        self._check = check  # raises UnsafePath / FileUnavailable for a bad folder
        self._known: set[str] = set()
        self._limit = limit

    def add(self, folder: str) -> None:
        if len(self._known) >= self._limit:
            self._known.clear()
        self._known.add(folder)

    def verify(self, parts: list[str]) -> None:
        """Every folder in ``parts`` (root-relative, the root itself excluded) is real."""
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth])
            if folder not in self._known:
                self._check(folder)
                self.add(folder)


# --------------------------------------------------------------------------- reading


class RangeReader(io.RawIOBase):
    """A raw stream over ``read_at(offset, size)`` that stops at the file's size when it was
    opened: a file growing while it is read (a log) cannot keep a reader going, and each
    request asks for at most ``window`` bytes."""

    def __init__(self, read_at: Callable[[int, int], bytes], size: int,
                 close: Callable[[], None], window: int = READ_BUFFER) -> None:
        super().__init__()
        self._read_at = read_at
        self._size = size
        self._close = close
        self._window = window
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._size - self._pos, self._window)
        if want <= 0:
            return 0
        data = self._read_at(self._pos, want)
        count = len(data)
        buffer[:count] = data
        self._pos += count
        if count == 0:  # the file shrank under us: stop here
            self._size = self._pos
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if not self.closed:
            try:
                self._close()
            finally:
                super().close()


def buffered(raw: io.RawIOBase) -> io.BufferedReader:
    return io.BufferedReader(raw, buffer_size=READ_BUFFER)


def temp_name(name: str, token: str) -> str:
    """A hidden temporary name beside ``name`` for write_atomic (short when ``name`` is
    long, to stay within 255 bytes)."""
    if len(name.encode("utf-8")) > 200:
        return f".dsr-{token}.tmp"
    return f".{name}.dsr-{token}.tmp"


__all__ = [
    "SCHEMES", "TRANSPORT_KEYS", "TRANSPORT_OPTIONS", "LocalSettings", "RemoteSettings",
    "Settings", "SftpSettings", "SmbSettings", "open_transport", "parse_transport",
]
