"""A folder on this machine (``file:///srv/share``), links never followed.

Every path is opened one component at a time from a descriptor of the root with
``O_NOFOLLOW``, so a symbolic link anywhere on a path is refused even if it appears
between the walk and the read (no check-then-use race). The root itself may be a link:
that is the administrator's choice.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat as stat_module
from collections.abc import Iterator
from typing import BinaryIO

from agent.errors import ConnectorError
from connectors.files.transport import Entry, FileUnavailable, Skipped, UnsafePath
from connectors.files.transports import (
    COPY_CHUNK,
    FILE,
    FOLDER,
    SYMLINK,
    LocalSettings,
    Node,
    RangeReader,
    buffered,
    join,
    posix_kind,
    split,
    temp_name,
    walk_from,
)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_REASONS = {
    errno.EACCES: "permission denied", errno.EPERM: "permission denied",
    errno.ENOENT: "not found", errno.ENOTDIR: "not found", errno.EISDIR: "is a folder",
    errno.EEXIST: "already exists", errno.ENOSPC: "no space left on the device",
    errno.EROFS: "read-only file system", errno.EXDEV: "the target is on another file system",
    errno.EBUSY: "in use", errno.ENAMETOOLONG: "name too long",
}


def _problem(path: str, exc: OSError) -> ConnectorError:
    """A file's own failure: UnsafePath for a link on the path, else FileUnavailable."""
    if exc.errno == errno.ELOOP:
        return UnsafePath("a symbolic link on the path is not followed")
    reason = _REASONS.get(exc.errno or 0) or f"{exc.strerror or type(exc).__name__}"
    return FileUnavailable(path, reason)


class LocalTransport:
    scheme = "file"

    def __init__(self, settings: LocalSettings) -> None:
        self.system = settings.system
        try:
            self._root = os.open(settings.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            reason = _REASONS.get(exc.errno or 0) or exc.strerror or type(exc).__name__
            if exc.errno == errno.ENOTDIR:
                reason = "not a folder"
            raise ConnectorError(f"system {self.system!r}: file {settings.root}: "
                                 f"{reason}") from None

    # ------------------------------------------------------------------ folders
    def _folder(self, parts: list[str], create: bool = False) -> int:
        """A descriptor of the folder ``parts`` names (the caller closes it), reached
        without following links; ``create`` makes missing folders."""
        fd = os.dup(self._root)
        try:
            for depth, part in enumerate(parts, 1):
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, dir_fd=fd)
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno != errno.ENOTDIR:
                        raise
                    # O_DIRECTORY meeting a link fails with ENOTDIR, not ELOOP
                    if stat_module.S_ISLNK(os.stat(part, dir_fd=fd, follow_symlinks=False)
                                           .st_mode):
                        raise UnsafePath("a symbolic link on the path is not followed") \
                            from None
                    raise FileUnavailable(join(*parts[:depth]), "not a folder") from None
                os.close(fd)
                fd = child
        except OSError as exc:
            os.close(fd)
            raise _problem(join(*parts), exc) from None
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _node(self, parts: list[str]) -> Node | None:
        """What ``parts`` names (links not followed), None when it does not exist."""
        if not parts:
            return Node("", FOLDER)
        path = join(*parts)
        try:
            fd = self._folder(parts[:-1])
        except FileUnavailable as exc:
            if exc.reason == "not found":
                return None
            raise
        try:
            info = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _problem(path, exc) from None
        finally:
            os.close(fd)
        return Node(parts[-1], posix_kind(info.st_mode), info.st_size, info.st_mtime)

    def _list(self, folder: str) -> list[Node]:
        fd = self._folder(split(folder))
        try:
            with os.scandir(fd) as listing:
                return [self._entry_node(entry) for entry in listing]
        except OSError as exc:
            raise _problem(folder, exc) from None
        finally:
            os.close(fd)

    @staticmethod
    def _entry_node(entry: os.DirEntry[str]) -> Node:
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError as exc:
            return Node(entry.name, _REASONS.get(exc.errno or 0, "unreadable"))
        return Node(entry.name, posix_kind(info.st_mode), info.st_size, info.st_mtime)

    # ------------------------------------------------------------------ Transport
    def walk(self, prefix: str = "", recursive: bool = True) -> Iterator[Entry | Skipped]:
        return walk_from(prefix, self._node, self._list, SYMLINK, recursive)

    def stat(self, path: str) -> Entry | None:
        parts = split(path)
        node = self._node(parts)
        if node is None:
            return None
        if node.kind == SYMLINK:
            raise UnsafePath("a symbolic link is not followed")
        if node.kind != FILE:
            raise FileUnavailable(join(*parts), "not a regular file")
        return Entry(join(*parts), node.size, node.mtime)

    def open_read(self, path: str) -> BinaryIO:
        parts = split(path)
        if not parts:
            raise FileUnavailable("", "is a folder")
        rel = join(*parts)
        folder = self._folder(parts[:-1])
        try:
            # O_NONBLOCK: opening a FIFO must not wait for a writer; checked just below
            fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=folder)
        except OSError as exc:
            raise _problem(rel, exc) from None
        finally:
            os.close(folder)
        info = os.fstat(fd)
        if not stat_module.S_ISREG(info.st_mode):
            os.close(fd)
            raise FileUnavailable(rel, "not a regular file")
        os.set_blocking(fd, True)

        def read_at(offset: int, size: int) -> bytes:
            try:
                return os.pread(fd, size, offset)
            except OSError as exc:
                raise _problem(rel, exc) from None

        return buffered(RangeReader(read_at, info.st_size, lambda: os.close(fd)))

    def write_atomic(self, path: str, data: BinaryIO) -> None:
        parts = split(path)
        if not parts:
            raise FileUnavailable("", "is a folder")
        rel, name = join(*parts), parts[-1]
        folder = self._folder(parts[:-1])
        try:
            old = self._existing(folder, name, rel)
            temp = temp_name(name, secrets.token_hex(4))
            mode = stat_module.S_IMODE(old.st_mode) if old else 0o666
            try:
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                             | os.O_CLOEXEC, mode, dir_fd=folder)
            except OSError as exc:
                raise _problem(rel, exc) from None
            try:
                self._fill(fd, data, rel, old)
                try:
                    os.replace(temp, name, src_dir_fd=folder, dst_dir_fd=folder)
                except OSError as exc:
                    raise _problem(rel, exc) from None
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp, dir_fd=folder)
                raise
            with contextlib.suppress(OSError):
                os.fsync(folder)  # the rename itself survives a crash
        finally:
            os.close(folder)

    @staticmethod
    def _existing(folder: int, name: str, rel: str) -> os.stat_result | None:
        try:
            old = os.stat(name, dir_fd=folder, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _problem(rel, exc) from None
        if stat_module.S_ISLNK(old.st_mode):
            raise UnsafePath("a symbolic link is not followed")
        if not stat_module.S_ISREG(old.st_mode):
            raise FileUnavailable(rel, "not a regular file")
        return old

    @staticmethod
    def _fill(fd: int, data: BinaryIO, rel: str, old: os.stat_result | None) -> None:
        """Write ``data`` to ``fd`` and make it durable; the source's own errors pass
        through unchanged, write errors become FileUnavailable."""
        try:
            while chunk := data.read(COPY_CHUNK):
                view = memoryview(chunk)
                while view:
                    try:
                        view = view[os.write(fd, view):]
                    except OSError as exc:
                        raise _problem(rel, exc) from None
            try:
                if old is not None:
                    os.fchmod(fd, stat_module.S_IMODE(old.st_mode))
                    with contextlib.suppress(PermissionError):  # only root may give it away
                        os.fchown(fd, old.st_uid, old.st_gid)
                os.fsync(fd)
            except OSError as exc:
                raise _problem(rel, exc) from None
        finally:
            os.close(fd)

    def delete(self, path: str) -> bool:
        parts = split(path)
        node = self._node(parts)
        if node is None:
            return False
        rel = join(*parts)
        if node.kind == SYMLINK:
            raise UnsafePath("a symbolic link is not followed")
        if node.kind != FILE:
            raise FileUnavailable(rel, "not a regular file")
        folder = self._folder(parts[:-1])
        try:
            os.unlink(parts[-1], dir_fd=folder)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise _problem(rel, exc) from None
        finally:
            os.close(folder)
        return True

    def move(self, path: str, target: str) -> None:
        source, dest = split(path), split(target)
        if not source or not dest:
            raise FileUnavailable(join(*source), "is a folder")
        node = self._node(source)
        rel = join(*source)
        if node is None:
            raise FileUnavailable(rel, "not found")
        if node.kind == SYMLINK:
            raise UnsafePath("a symbolic link is not followed")
        if node.kind != FILE:
            raise FileUnavailable(rel, "not a regular file")
        src_folder = self._folder(source[:-1])
        try:
            dst_folder = self._folder(dest[:-1], create=True)
            try:
                # rename(2) replaces silently: refuse an existing target instead
                with contextlib.suppress(FileNotFoundError):
                    os.stat(dest[-1], dir_fd=dst_folder, follow_symlinks=False)
                    raise FileUnavailable(join(*dest), "already exists")
                os.rename(source[-1], dest[-1], src_dir_fd=src_folder, dst_dir_fd=dst_folder)
            except OSError as exc:
                raise _problem(rel, exc) from None
            finally:
                os.close(dst_folder)
        finally:
            os.close(src_folder)

    def close(self) -> None:
        if self._root >= 0:
            os.close(self._root)
            self._root = -1
