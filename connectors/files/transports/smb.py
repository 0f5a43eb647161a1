"""SMB 2/3 shares (Windows, Samba) through smbprotocol's ``smbclient``.

Each transport has a connection of its own (its own ``connection_cache``), so closing it
never touches another worker's. A server that stops answering is dropped by smbprotocol's
keep-alive after about twice ``io_timeout``; a closed socket fails the next call at once.
A lost connection is never silently re-established: further calls raise ConnectorError.

Links: reparse points (Windows symbolic links, junctions) are skipped by the walk and
refused on every path, the last component opened with FILE_OPEN_REPARSE_POINT so the check
and the open are one. Samba resolves Unix symbolic links itself and never shows them to
clients: with its defaults (``wide links = no``) they cannot leave the share, and with
``follow symlinks = no`` on the share they are hidden altogether (which keeps a link from
leading out of a base folder below the share). Files other than regular files and folders
(devices; on Samba, FIFOs show as empty files) are skipped or read as empty.
"""

from __future__ import annotations

import contextlib
import datetime
import secrets
from collections.abc import Iterator
from typing import Any, BinaryIO

import smbclient
from smbclient._io import SMBFileTransaction, SMBRawIO, set_info
from smbprotocol.connection import Connection
from smbprotocol.exceptions import (
    SMBAuthenticationError,
    SMBConnectionClosed,
    SMBException,
    SMBOSError,
    SMBResponseException,
)
from smbprotocol.file_info import FileRenameInformation
from smbprotocol.header import NtStatus
from smbprotocol.open import CreateOptions, FileAttributes, FilePipePrinterAccessMask

from agent.errors import ConnectorError
from connectors.files.transport import FileUnavailable, UnsafePath
from connectors.files.transports import (
    COPY_CHUNK,
    FILE,
    FOLDER,
    READ_BUFFER,
    CheckedFolders,
    Node,
    RangeReader,
    SmbSettings,
    buffered,
    join,
    split,
    temp_name,
)
from connectors.files.transports.remote import LinkSafeTree

REPARSE = "symbolic link or reparse point"
_REPARSE = FileAttributes.FILE_ATTRIBUTE_REPARSE_POINT
_DIRECTORY = FileAttributes.FILE_ATTRIBUTE_DIRECTORY
_DEVICE = 0x00000040  # FILE_ATTRIBUTE_DEVICE
# Placeholders of files kept elsewhere (OFFLINE, RECALL_ON_OPEN, RECALL_ON_DATA_ACCESS: HSM,
# cloud sync): opening one would fetch it back.
_OFFLINE = 0x00001000 | 0x00040000 | 0x00400000
_FILE_LEVEL = {
    NtStatus.STATUS_ACCESS_DENIED: "permission denied",
    NtStatus.STATUS_OBJECT_NAME_NOT_FOUND: "not found",
    NtStatus.STATUS_OBJECT_PATH_NOT_FOUND: "not found",
    NtStatus.STATUS_NO_SUCH_FILE: "not found",
    NtStatus.STATUS_DELETE_PENDING: "not found",
    NtStatus.STATUS_SHARING_VIOLATION: "in use by another program",
    NtStatus.STATUS_FILE_IS_A_DIRECTORY: "is a folder",
    NtStatus.STATUS_NOT_A_DIRECTORY: "not a folder",
    NtStatus.STATUS_OBJECT_NAME_COLLISION: "already exists",
    NtStatus.STATUS_DISK_FULL: "no space left on the share",
    NtStatus.STATUS_OBJECT_NAME_INVALID: "name not allowed by the server",
    NtStatus.STATUS_CANNOT_DELETE: "cannot be deleted (read-only)",
}
_SESSION_GONE = {NtStatus.STATUS_USER_SESSION_DELETED, 0xC000035C}  # ..., NETWORK_SESSION_EXPIRED


def _status_name(status: int) -> str:
    for name, value in vars(NtStatus).items():
        if value == status and name.startswith("STATUS_"):
            return name
    return f"0x{status:08x}"


def _seconds(when: datetime.datetime) -> float:
    """smbprotocol gives UTC datetimes (datetime.max, without a zone, past year 9999)."""
    try:
        return when.replace(tzinfo=when.tzinfo or datetime.UTC).timestamp()
    except (OverflowError, ValueError):
        return 0.0


def _kind(attributes: int) -> str:
    if attributes & _REPARSE:
        return REPARSE
    if attributes & _DIRECTORY:
        return FOLDER
    if attributes & _DEVICE:
        return "not a regular file"
    if attributes & _OFFLINE:
        return "offline file (stored elsewhere)"
    return FILE


class SmbTransport(LinkSafeTree):
    scheme = "smb"
    LINK = REPARSE
    LINK_WORDS = "a symbolic link or reparse point"

    def __init__(self, settings: SmbSettings) -> None:
        self.settings = settings
        self.system = settings.system
        self._lost = False
        self._cache: dict[str, Any] = {}
        self._kw: dict[str, Any] = {"port": settings.port, "connection_cache": self._cache}
        self._conn = self._connect()
        self._root = "\\\\" + "\\".join([settings.host, settings.share,
                                         *[p for p in settings.base.split("/") if p]])
        try:
            self._check_root()
        except BaseException:
            self.close()
            raise
        self._checked = CheckedFolders(self._check_folder)

    # ------------------------------------------------------------------ connecting
    def _connect(self) -> Connection:
        s = self.settings
        conn = Connection(smbclient.ClientConfig().client_guid, s.host, s.port,
                          require_signing=True)
        # smbprotocol's keep-alive clock (its env var SMB_EXPERIMENTAL_TRANSPORT_RECEIVE_TIMEOUT,
        # 600 s by default): a silent server is dropped after twice this
        conn._receive_timeout = max(1, int(s.io_timeout))
        try:
            conn.connect(timeout=s.connect_timeout)
        except ValueError as exc:  # smbprotocol's "Failed to connect to 'host:port': ..."
            cause = exc.__cause__
            detail = cause.strerror if isinstance(cause, OSError) and cause.strerror else \
                type(cause or exc).__name__
            raise s.failure("unreachable", detail) from None
        except Exception as exc:
            raise self._lost_error(exc, connecting=True) from None
        self._cache[f"{s.host.lower()}:{s.port}"] = conn
        user = f"{s.domain}\\{s.user}" if s.domain and s.user else s.user
        try:
            smbclient.register_session(
                s.host, username=user, password=s.password, port=s.port,
                encrypt=True if s.encrypt else None, connection_timeout=s.connect_timeout,
                connection_cache=self._cache, auth_protocol=s.auth_protocol)
        except (SMBAuthenticationError, SMBResponseException) as exc:
            with contextlib.suppress(Exception):
                conn.disconnect()
            if isinstance(exc, SMBAuthenticationError) or \
                    getattr(exc, "status", None) == NtStatus.STATUS_LOGON_FAILURE:
                raise s.failure("authentication failed",
                                "the user name or password was refused") from None
            raise s.failure("refused", _status_name(getattr(exc, "status", 0))) from None
        except Exception as exc:
            with contextlib.suppress(Exception):
                conn.disconnect()
            raise self._lost_error(exc, connecting=True) from None
        return conn

    def _check_root(self) -> None:
        s = self.settings
        try:
            info = smbclient.stat(self._root, **self._kw)
        except SMBOSError as exc:
            if exc.ntstatus == NtStatus.STATUS_BAD_NETWORK_NAME:
                raise s.failure("share not found") from None
            what = _FILE_LEVEL.get(exc.ntstatus, _status_name(exc.ntstatus))
            raise s.failure(f"base folder {what}") from None
        except Exception as exc:
            raise self._lost_error(exc) from None
        if not info.st_file_attributes & _DIRECTORY:
            raise s.failure("the base path is not a folder")

    def _lost_error(self, exc: BaseException, connecting: bool = False) -> ConnectorError:
        s = self.settings
        self._lost = not connecting
        text = str(exc).lower()
        if isinstance(exc, TimeoutError) or "timeout" in text or "timed out" in text:
            wait = s.connect_timeout if connecting else s.io_timeout
            return s.failure("timed out", f"no answer within {wait:g} s")
        if connecting:
            return s.failure("unreachable" if isinstance(exc, OSError) else "protocol error",
                             type(exc).__name__)
        return s.failure("connection lost", type(exc).__name__)

    # ------------------------------------------------------------------ plumbing
    def _unc(self, rel: str) -> str:
        return self._root if not rel else self._root + "\\" + rel.replace("/", "\\")

    @contextlib.contextmanager
    def _io(self, rel: str) -> Iterator[None]:
        if self._lost or not self._conn.transport.connected:
            self._lost = True
            raise self.settings.failure("connection lost")
        try:
            yield
        except (FileUnavailable, UnsafePath):
            raise
        except (SMBOSError, SMBResponseException) as exc:
            status = exc.ntstatus if isinstance(exc, SMBOSError) else exc.status
            if status in _SESSION_GONE or not self._conn.transport.connected:
                raise self._lost_error(exc) from None
            if status == NtStatus.STATUS_STOPPED_ON_SYMLINK:
                raise UnsafePath("a symbolic link on the path is not followed") from None
            reason = _FILE_LEVEL.get(status) or f"refused by the server: {_status_name(status)}"
            raise FileUnavailable(rel, reason) from None
        except (SMBConnectionClosed, SMBException, OSError, ValueError) as exc:
            raise self._lost_error(exc) from None

    def _lstat(self, rel: str) -> Any | None:
        try:
            with self._io(rel):
                return smbclient.lstat(self._unc(rel), **self._kw)
        except FileUnavailable as exc:
            if exc.reason == "not found":
                return None
            raise

    def _stat_node(self, rel: str, name: str) -> Node | None:
        info = self._lstat(rel)
        if info is None:
            return None
        # whole microseconds, as listings give them
        return Node(name, _kind(info.st_file_attributes), info.st_size,
                    info.st_mtime_ns // 1000 / 1e6)

    def _list(self, folder: str) -> list[Node]:
        nodes: list[Node] = []
        with self._io(folder), smbclient.scandir(self._unc(folder), **self._kw) as listing:
            for item in listing:
                info = item.smb_info
                nodes.append(Node(item.name, _kind(info.file_attributes), info.end_of_file,
                                  _seconds(info.last_write_time)))
        for node in nodes:
            if node.kind == FOLDER:
                self._checked.add(join(folder, node.name))
        return nodes

    # ------------------------------------------------------------------ Transport
    def open_read(self, path: str) -> BinaryIO:
        parts = split(path)
        if not parts:
            raise FileUnavailable("", "is a folder")
        rel = join(*parts)
        self._checked.verify(parts[:-1])
        with self._io(rel):
            # the link itself, never its target: what was opened is checked, so the check
            # and the open are one (and no separate stat: each costs a round trip)
            raw = smbclient.open_file(self._unc(rel), mode="rb", buffering=0,
                                      share_access="rwd",  # never block a writer
                                      create_options=CreateOptions.FILE_OPEN_REPARSE_POINT,
                                      **self._kw)
        kind = _kind(raw.fd.file_attributes)
        if kind != FILE:
            with contextlib.suppress(Exception):
                raw.close()
            if kind == REPARSE:
                raise UnsafePath("a symbolic link or reparse point is not followed")
            raise FileUnavailable(rel, "not a regular file" if kind == FOLDER else kind)
        size = raw.fd.end_of_file

        def read_at(offset: int, size: int) -> bytes:
            with self._io(rel):
                raw.seek(offset)
                return raw.read(size) or b""

        def close() -> None:
            if not self._lost:
                with contextlib.suppress(Exception):
                    raw.close()

        return buffered(RangeReader(read_at, size, close))

    def write_atomic(self, path: str, data: BinaryIO) -> None:
        parts = split(path)
        if not parts:
            raise FileUnavailable("", "is a folder")
        rel = join(*parts)
        self._checked.verify(parts[:-1])
        self._file(parts, missing_ok=True)
        temp = self._unc(join(*parts[:-1], temp_name(parts[-1], secrets.token_hex(4))))
        with self._io(rel):
            out = smbclient.open_file(temp, mode="xb", buffering=READ_BUFFER, **self._kw)
        try:
            while chunk := data.read(COPY_CHUNK):
                with self._io(rel):
                    out.write(chunk)
            with self._io(rel):
                out.close()
            try:
                with self._io(rel):
                    self._replace(temp, parts[-1])
            except FileUnavailable as exc:
                if exc.reason != "permission denied":
                    raise
                # Windows semantics: a file open elsewhere (a reader, an editor) cannot be
                # replaced until it is closed
                raise FileUnavailable(rel, "cannot be replaced: permission denied, or open "
                                           "in another program") from None
        except BaseException:
            if not self._lost:
                with contextlib.suppress(Exception):
                    out.close()
                with contextlib.suppress(Exception):
                    smbclient.remove(temp, **self._kw)
            raise

    def _replace(self, temp: str, name: str) -> None:
        """Rename ``temp`` over ``name`` in its folder, replacing it in one step.
        (smbclient.replace first opens the target asking for FILE_EXECUTE, which Samba
        refuses on a file without the x bit, so the rename is sent directly.)"""
        with SMBRawIO(temp, mode="r", share_access="rwd",
                      desired_access=FilePipePrinterAccessMask.DELETE,
                      create_options=CreateOptions.FILE_OPEN_REPARSE_POINT, **self._kw) as raw:
            folder = raw.fd.file_name.rpartition("\\")[0]  # the path within the share
            rename = FileRenameInformation()
            rename["replace_if_exists"] = True
            rename["file_name"] = f"{folder}\\{name}" if folder else name
            with SMBFileTransaction(raw) as transaction:
                set_info(transaction, rename)

    def _remove(self, rel: str) -> None:
        smbclient.remove(self._unc(rel), **self._kw)

    def _rename(self, source: str, target: str) -> None:
        smbclient.rename(self._unc(source), self._unc(target), **self._kw)

    def _mkdir(self, rel: str) -> None:
        smbclient.mkdir(self._unc(rel), **self._kw)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            smbclient.reset_connection_cache(fail_on_error=False, connection_cache=self._cache)
