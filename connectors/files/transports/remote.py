"""What the SFTP and SMB transports share: resolving a path one checked folder at a time,
never through a link, and the walk and stat built on that.

A subclass gives ``_stat_node`` (one lstat as a Node, None when not found), ``_list``
(one folder's listing as Nodes), ``_io`` (its error translation around one call), the
primitives ``_remove``, ``_rename`` and ``_mkdir``, ``LINK`` (the kind it reports links
as) and ``LINK_WORDS`` (how an error names one); ``_checked`` is its CheckedFolders.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import ClassVar

from connectors.files.transport import Entry, FileUnavailable, Skipped, UnsafePath
from connectors.files.transports import (
    FILE,
    FOLDER,
    CheckedFolders,
    Node,
    join,
    split,
    walk_from,
)


class LinkSafeTree(ABC):
    LINK: ClassVar[str]
    LINK_WORDS: ClassVar[str]
    _checked: CheckedFolders

    @abstractmethod
    def _stat_node(self, rel: str, name: str) -> Node | None:
        ...

    @abstractmethod
    def _list(self, folder: str) -> list[Node]:
        ...

    @abstractmethod
    def _io(self, rel: str) -> AbstractContextManager[None]:
        ...

    @abstractmethod
    def _remove(self, rel: str) -> None:
        ...

    @abstractmethod
    def _rename(self, source: str, target: str) -> None:
        ...

    @abstractmethod
    def _mkdir(self, rel: str) -> None:
        ...

    def _check_folder(self, rel: str) -> None:
        node = self._stat_node(rel, rel.rpartition("/")[2])
        kind = node.kind if node else None
        if kind == self.LINK:
            raise UnsafePath(f"a folder on the path is {self.LINK_WORDS}")
        if kind != FOLDER:
            raise FileUnavailable(rel, "not found" if node is None else "not a folder")

    def _node(self, parts: list[str]) -> Node | None:
        if not parts:
            return Node("", FOLDER)
        try:
            self._checked.verify(parts[:-1])
        except FileUnavailable as exc:
            if exc.reason == "not found":
                return None
            raise
        return self._stat_node(join(*parts), parts[-1])

    def _file(self, parts: list[str], missing_ok: bool = False) -> Node | None:
        """The regular file ``parts`` names; UnsafePath for a link, FileUnavailable else."""
        rel = join(*parts)
        if not parts:
            raise FileUnavailable("", "is a folder")
        node = self._node(parts)
        if node is None:
            if missing_ok:
                return None
            raise FileUnavailable(rel, "not found")
        if node.kind == self.LINK:
            raise UnsafePath(f"{self.LINK_WORDS} is not followed")
        if node.kind != FILE:
            raise FileUnavailable(rel, "not a regular file" if node.kind == FOLDER
                                  else node.kind)
        return node

    def walk(self, prefix: str = "", recursive: bool = True) -> Iterator[Entry | Skipped]:
        return walk_from(prefix, self._node, self._list, self.LINK, recursive)

    def stat(self, path: str) -> Entry | None:
        parts = split(path)
        node = self._file(parts, missing_ok=True)
        return None if node is None else Entry(join(*parts), node.size, node.mtime)

    def delete(self, path: str) -> bool:
        parts = split(path)
        if self._file(parts, missing_ok=True) is None:
            return False
        rel = join(*parts)
        try:
            with self._io(rel):
                self._remove(rel)
        except FileUnavailable as exc:
            if exc.reason == "not found":
                return False
            raise
        return True

    def move(self, path: str, target: str) -> None:
        source, dest = split(path), split(target)
        self._file(source)
        if not dest:
            raise FileUnavailable("", "is a folder")
        self._make_folders(dest[:-1])
        if self._stat_node(join(*dest), dest[-1]) is not None:
            raise FileUnavailable(join(*dest), "already exists")
        with self._io(join(*source)):
            self._rename(join(*source), join(*dest))

    def _make_folders(self, parts: list[str]) -> None:
        for depth in range(1, len(parts) + 1):
            folder = join(*parts[:depth])
            node = self._stat_node(folder, parts[depth - 1])
            if node is None:
                with self._io(folder):
                    self._mkdir(folder)
            elif node.kind == self.LINK:
                raise UnsafePath(f"a folder on the path is {self.LINK_WORDS}")
            elif node.kind != FOLDER:
                raise FileUnavailable(folder, "not a folder")
            self._checked.add(folder)
