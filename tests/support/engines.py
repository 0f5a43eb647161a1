"""SearchEngines over one system entry, with their state in a test's temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from agent.config import config_from_dict
from agent.engine import SearchEngine


class MakeEngine(Protocol):
    def __call__(self, entry: dict[str, Any]) -> SearchEngine: ...


@contextmanager
def engines(folder: Path) -> Iterator[MakeEngine]:
    """``make(entry)``: an engine over that ``[[systems]]`` table (no identity expansion);
    every engine made is closed at the end."""
    made: list[SearchEngine] = []

    def make(entry: dict[str, Any]) -> SearchEngine:
        config = config_from_dict({
            "agent": {"state": f"sqlite:///{(folder / 'state.sqlite').as_posix()}",
                      "hmac_key": str(folder / "keys" / "hmac.key"), "max_depth": 0},
            "systems": [entry],
        }, base_dir=folder)
        engine = SearchEngine(config)
        made.append(engine)
        return engine

    try:
        yield make
    finally:
        for engine in made:
            engine.close()
