"""SFTP through paramiko: key or password login, host keys checked against known_hosts.

The host key is checked before any password or key is offered: a server missing from
``known_hosts`` or presenting another key is refused (``host_key_check = false`` accepts
any, with a warning). Every request waits at most ``io_timeout`` seconds, so a dead or
silent server ends a walk or a read with a ConnectorError instead of a hang; after a
connection failure the transport refuses further calls (the caller opens a new one).

SFTP servers follow links when opening a path, so before each call the folders on the
path are checked with lstat (once per connection, ``CheckedFolders``) and the file itself
is lstat-ed: a link anywhere is refused. A link swapped in between that check and the open
is not caught; the local transport, which can open with O_NOFOLLOW, has no such gap.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import io
import secrets
import socket
import stat as stat_module
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import paramiko
import structlog
from paramiko.sftp import CMD_DATA, CMD_READ, CMD_STATUS, int64

from agent.errors import ConfigError, ConnectorError
from connectors.files.transport import FileUnavailable, UnsafePath
from connectors.files.transports import (
    COPY_CHUNK,
    FILE,
    FOLDER,
    SYMLINK,
    CheckedFolders,
    Node,
    SftpSettings,
    buffered,
    join,
    posix_kind,
    split,
    temp_name,
)
from connectors.files.transports.remote import LinkSafeTree

log = structlog.get_logger("connectors.files")
_REQUEST = 32768  # paramiko's (and most servers') largest single read
_AHEAD = 64  # reads in flight


def fingerprint(key: paramiko.PKey) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return f"{key.get_name()} SHA256:{base64.b64encode(digest).decode().rstrip('=')}"


class _UnknownHostKey(Exception):
    def __init__(self, key: paramiko.PKey) -> None:
        super().__init__("unknown host key")
        self.key = key


class _RefuseUnknown(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client: Any, hostname: str, key: paramiko.PKey) -> None:
        raise _UnknownHostKey(key)


class _AcceptAny(paramiko.MissingHostKeyPolicy):
    """``host_key_check = false``: accepted, never saved, logged every time."""

    def __init__(self, settings: SftpSettings) -> None:
        self.settings = settings

    def missing_host_key(self, client: Any, hostname: str, key: paramiko.PKey) -> None:
        log.warning("files.sftp.host_key_not_checked", system=self.settings.system,
                    server=self.settings.where, host_key=fingerprint(key))


def _load_key(settings: SftpSettings) -> paramiko.PKey | None:
    if settings.key_file is None:
        return None
    key = f"systems.{settings.system}."
    try:
        phrase = settings.key_passphrase.encode() if settings.key_passphrase else None
        return paramiko.PKey.from_path(settings.key_file, phrase)
    except paramiko.PasswordRequiredException:
        raise ConfigError(f"system {settings.system!r}: key_file is encrypted: set "
                          "key_passphrase", key=key + "key_passphrase") from None
    except (paramiko.SSHException, ValueError):
        if settings.key_passphrase:
            raise ConfigError(f"system {settings.system!r}: cannot decrypt key_file with it "
                              "(or key_file is not a private key)",
                              key=key + "key_passphrase") from None
        raise ConfigError(f"system {settings.system!r}: not a private key paramiko reads "
                          "(OpenSSH or PEM: ed25519, ecdsa, rsa)", key=key + "key_file") from None
    except OSError as exc:
        raise ConfigError(f"system {settings.system!r}: cannot read: {exc.strerror}",
                          key=key + "key_file") from None


class _Pipelined(io.RawIOBase):
    """A file read front to back with up to ``_AHEAD`` requests in flight, so a large file
    streams at the link's speed while at most ``_AHEAD * 32 KiB`` (2 MiB) waits in memory.

    paramiko's own ``prefetch`` keeps every answer until it is read (a slow reader of a big
    file would hold all of it) and its windowed ``readv`` runs at a third of this speed, so
    the requests go through paramiko's request plumbing here, in the calling thread. Reads
    stop at the size the file had when opened. The pipeline starts with one request in
    flight, doubling with each answer read (six round trips to full speed), and starts so
    again after a seek: a sweep reading a few slices of a big file asks for little more
    than the slices.
    """

    def __init__(self, sftp: paramiko.SFTPClient, handle: paramiko.SFTPFile, size: int,
                 guard: Callable[[], contextlib.AbstractContextManager[None]],
                 close: Callable[[], None]) -> None:
        super().__init__()
        self._sftp = sftp
        self._handle = handle
        self._size = size
        self._guard = guard
        self._close = close
        self._pos = 0  # the next byte handed out
        self._next = 0  # the offset of the next request
        self._pending: deque[tuple[int, int]] = deque()  # (request number, length asked)
        self._wanted: set[int] = set()
        self._results: dict[int, bytes | BaseException] = {}
        self._left = memoryview(b"")
        self._depth = 1  # requests kept in flight: doubles per answer read, up to _AHEAD

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        if base + offset != self._pos:
            self._left = memoryview(b"")
            self._pos = base + offset
            self._restart(self._pos)
        return self._pos

    def _restart(self, offset: int) -> None:
        """Forget the requests in flight (their answers are dropped on arrival)."""
        self._pending.clear()
        self._wanted.clear()
        self._results.clear()
        self._next = offset
        self._depth = 1

    # paramiko calls this with each answer to a request made for this object
    def _async_response(self, kind: int, msg: Any, num: int) -> None:
        if num not in self._wanted:
            return
        if kind == CMD_DATA:
            self._results[num] = msg.get_string()
        elif kind == CMD_STATUS:
            try:
                self._sftp._convert_status(msg)
                self._results[num] = b""
            except EOFError:
                self._results[num] = b""
            except Exception as exc:
                self._results[num] = exc
        else:
            self._results[num] = paramiko.SFTPError("unexpected answer to a read")

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._size:
            return 0
        if not self._left:
            with self._guard():
                data = self._next_chunk()
            if not data:  # the file shrank under us: stop here
                self._size = self._pos
                return 0
            self._left = memoryview(data)
        count = min(len(buffer), len(self._left))
        buffer[:count] = self._left[:count]
        self._left = self._left[count:]
        self._pos += count
        return count

    def _next_chunk(self) -> bytes:
        """The answer to the oldest request, after topping up the requests in flight."""
        while self._next < self._size and len(self._pending) < self._depth:
            length = min(_REQUEST, self._size - self._next)
            num = self._sftp._async_request(self, CMD_READ, self._handle.handle,
                                            int64(self._next), int(length))
            self._pending.append((num, length))
            self._wanted.add(num)
            self._next += length
        num, length = self._pending.popleft()
        self._depth = min(_AHEAD, self._depth * 2)
        while num not in self._results:
            self._sftp._read_response()
        self._wanted.discard(num)
        data = self._results.pop(num)
        if isinstance(data, BaseException):
            raise data
        if 0 < len(data) < length:  # a short answer: ask again from where it ended
            self._restart(self._pos + len(data))
        return data

    def close(self) -> None:
        if not self.closed:
            self._restart(self._pos)  # answers still in flight are dropped as they arrive
            try:
                self._close()
            finally:
                super().close()


class SftpTransport(LinkSafeTree):
    scheme = "sftp"
    LINK = SYMLINK
    LINK_WORDS = "a symbolic link"

    def __init__(self, settings: SftpSettings) -> None:
        self.settings = settings
        self.system = settings.system
        self._lost = False
        self._posix_rename: bool | None = None  # None: not tried yet on this server
        self._client = self._connect()
        try:
            # open_sftp() would wait without limit for the subsystem's first answer
            transport = self._client.get_transport()
            assert transport is not None
            channel = transport.open_session(timeout=settings.connect_timeout)
            channel.settimeout(settings.connect_timeout)
            channel.invoke_subsystem("sftp")
            self._sftp = paramiko.SFTPClient(channel)
            channel.settimeout(settings.io_timeout)
            self._root = self._find_root()
        except ConnectorError:
            self._client.close()
            raise
        except Exception as exc:
            self._client.close()
            raise self._connection_failure(exc) from None
        self._checked = CheckedFolders(self._check_folder)

    # ------------------------------------------------------------------ connecting
    def _connect(self) -> paramiko.SSHClient:
        s = self.settings
        pkey = _load_key(s)
        client = paramiko.SSHClient()
        if s.host_key_check:
            if s.known_hosts.is_file():
                client.load_host_keys(str(s.known_hosts))
            client.set_missing_host_key_policy(_RefuseUnknown())
        else:
            client.set_missing_host_key_policy(_AcceptAny(s))
        try:
            client.connect(s.host, s.port, username=s.user, password=s.password, pkey=pkey,
                           timeout=s.connect_timeout, banner_timeout=s.connect_timeout,
                           auth_timeout=s.connect_timeout, channel_timeout=s.connect_timeout,
                           allow_agent=False, look_for_keys=False)
        except _UnknownHostKey as exc:
            client.close()
            missing = "" if s.known_hosts.is_file() else ", which does not exist"
            raise s.failure(
                "unknown host key",
                f"the server offered {fingerprint(exc.key)}, not in known_hosts file "
                f"{s.known_hosts}{missing}; check that fingerprint with the server's "
                f"administrator, then add it (ssh-keyscan -p {s.port} {s.host} >> "
                f"{s.known_hosts}), or set host_key_check = false") from None
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise s.failure(
                "host key changed",
                f"the server offered {fingerprint(exc.key)} but known_hosts file "
                f"{s.known_hosts} expects {fingerprint(exc.expected_key)}: refused (a "
                "reinstalled server, or someone in between)") from None
        except paramiko.AuthenticationException:
            client.close()
            raise s.failure("authentication failed",
                            "the user name, key or password was refused") from None
        except Exception as exc:
            client.close()
            raise self._connection_failure(exc, connecting=True) from None
        return client

    def _connection_failure(self, exc: BaseException, connecting: bool = False
                            ) -> ConnectorError:
        s = self.settings
        if isinstance(exc, TimeoutError | socket.timeout):
            wait = s.connect_timeout if connecting else s.io_timeout
            return s.failure("timed out", f"no answer within {wait:g} s")
        if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError | socket.gaierror) \
                or (connecting and isinstance(exc, OSError)):
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else \
                type(exc).__name__
            return s.failure("unreachable", detail)
        if connecting and isinstance(exc, paramiko.SSHException):
            return s.failure("protocol error", str(exc)[:200])
        return s.failure("connection lost", type(exc).__name__)

    def _find_root(self) -> str:
        base = self.settings.base
        if base in ("", "/~") or base.startswith("/~/"):
            home = self._sftp.normalize(".")
            base = home.rstrip("/") + "/" + base[3:] if base.startswith("/~/") else home
        try:
            root = self._sftp.normalize(base)
            info = self._sftp.stat(root)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.EACCES):
                what = "not found" if exc.errno == errno.ENOENT else "permission denied"
                raise self.settings.failure(f"base folder {what}") from None
            raise
        if not stat_module.S_ISDIR(info.st_mode or 0):
            raise self.settings.failure("the base path is not a folder")
        return root

    # ------------------------------------------------------------------ plumbing
    def _full(self, rel: str) -> str:
        return self._root if not rel else f"{self._root.rstrip('/')}/{rel}"

    @contextlib.contextmanager
    def _io(self, rel: str) -> Iterator[None]:
        """Server answers about a file become FileUnavailable; anything else means the
        connection is gone, and the transport refuses further calls."""
        if self._lost or not self._client.get_transport() or \
                not self._client.get_transport().is_active():  # type: ignore[union-attr]
            self._lost = True
            raise self.settings.failure("connection lost")
        try:
            yield
        except (FileUnavailable, UnsafePath):
            raise
        except TimeoutError as exc:
            self._lost = True
            raise self._connection_failure(exc) from None
        except OSError as exc:
            if isinstance(exc, ConnectionError) or exc.errno not in (None, errno.ENOENT,
                                                                     errno.EACCES):
                self._lost = True
                raise self._connection_failure(exc) from None
            if exc.errno == errno.ENOENT:
                raise FileUnavailable(rel, "not found") from None
            if exc.errno == errno.EACCES:
                raise FileUnavailable(rel, "permission denied") from None
            text = str(exc.args[0]) if exc.args else "failure"
            raise FileUnavailable(rel, f"refused by the server: {text[:120]}") from None
        except (paramiko.SSHException, paramiko.SFTPError, EOFError) as exc:
            self._lost = True
            raise self._connection_failure(exc) from None

    def _lstat(self, rel: str) -> paramiko.SFTPAttributes | None:
        try:
            with self._io(rel):
                return self._sftp.lstat(self._full(rel))
        except FileUnavailable as exc:
            if exc.reason == "not found":
                return None
            raise

    def _stat_node(self, rel: str, name: str) -> Node | None:
        info = self._lstat(rel)
        if info is None:
            return None
        return Node(name, posix_kind(info.st_mode), info.st_size or 0,
                    float(info.st_mtime or 0))

    def _list(self, folder: str) -> list[Node]:
        try:
            with self._io(folder):
                listing = self._sftp.listdir_attr(self._full(folder))
        except UnicodeDecodeError:
            raise FileUnavailable(folder, "holds a name that is not valid UTF-8") from None
        nodes = [Node(a.filename, posix_kind(a.st_mode), a.st_size or 0, float(a.st_mtime or 0))
                 for a in listing]
        del listing
        for node in nodes:
            if node.kind == FOLDER:
                self._checked.add(join(folder, node.name))
        return nodes

    # ------------------------------------------------------------------ Transport
    def open_read(self, path: str) -> BinaryIO:
        parts = split(path)
        node = self._file(parts)
        assert node is not None
        rel = join(*parts)
        with self._io(rel):
            handle = self._sftp.open(self._full(rel), "rb")

        def close() -> None:
            if not self._lost:
                with contextlib.suppress(Exception):
                    handle.close()

        raw = _Pipelined(self._sftp, handle, node.size, lambda: self._io(rel), close)
        return buffered(raw)

    def write_atomic(self, path: str, data: BinaryIO) -> None:
        parts = split(path)
        if not parts:
            raise FileUnavailable("", "is a folder")
        rel = join(*parts)
        self._checked.verify(parts[:-1])
        old = self._lstat(rel)
        if old is not None and posix_kind(old.st_mode) == SYMLINK:
            raise UnsafePath("a symbolic link is not followed")
        if old is not None and posix_kind(old.st_mode) != FILE:
            raise FileUnavailable(rel, "not a regular file")
        temp = self._full(join(*parts[:-1], temp_name(parts[-1], secrets.token_hex(4))))
        with self._io(rel):
            handle = self._sftp.open(temp, "wbx")  # x: never an existing file
            handle.set_pipelined(True)  # writes do not wait for each answer; close() does
        try:
            while chunk := data.read(COPY_CHUNK):
                with self._io(rel):
                    handle.write(chunk)
            with self._io(rel):
                handle.close()  # waits for every write's answer: errors surface here
            if old is not None and old.st_mode is not None:
                with contextlib.suppress(FileUnavailable), self._io(rel):
                    self._sftp.chmod(temp, stat_module.S_IMODE(old.st_mode))
            self._replace(temp, self._full(rel), rel)
        except BaseException:
            if not self._lost:
                with contextlib.suppress(Exception):
                    handle.close()
                with contextlib.suppress(Exception):
                    self._sftp.remove(temp)
            raise

    def _replace(self, temp: str, target: str, rel: str) -> None:
        """posix-rename@openssh.com replaces in one step; a server without it gets
        remove + rename, with a moment in which the file is missing (logged once)."""
        if self._posix_rename is not False:
            try:
                with self._io(rel):
                    self._sftp.posix_rename(temp, target)
                self._posix_rename = True
                return
            except FileUnavailable as exc:
                if self._posix_rename or "unsupported" not in exc.reason.lower():
                    raise
                self._posix_rename = False
                log.warning("files.sftp.no_posix_rename", system=self.system,
                            server=self.settings.where,
                            note="files are replaced by remove + rename: a reader may find "
                                 "one missing for a moment")
        with self._io(rel):
            try:
                self._sftp.remove(target)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise
            self._sftp.rename(temp, target)

    def _remove(self, rel: str) -> None:
        self._sftp.remove(self._full(rel))

    def _rename(self, source: str, target: str) -> None:
        # plain SFTP rename refuses an existing target (OpenSSH links, then unlinks)
        self._sftp.rename(self._full(source), self._full(target))

    def _mkdir(self, rel: str) -> None:
        self._sftp.mkdir(self._full(rel))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._sftp.close()
        with contextlib.suppress(Exception):
            self._client.close()
