"""The Exporter base class: write an access or portability package in one format."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar


class Exporter(ABC):
    name: ClassVar[str] = ""
    media_type: ClassVar[str] = "application/octet-stream"
    extension: ClassVar[str] = ""

    @abstractmethod
    def write(self, records: Iterable[dict[str, Any]], destination: Path) -> Path:
        """Write ``records`` under ``destination``; return the file written."""
