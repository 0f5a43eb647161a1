"""rich progress on stderr while a search runs, only when stderr is a terminal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console

from agent.cli.context import stderr_is_tty


@contextmanager
def search_progress() -> Iterator[Any]:
    if not stderr_is_tty():
        yield None
        return
    console = Console(stderr=True)
    with console.status("searching…") as status:
        done: list[str] = []

        def update(event: str, data: dict[str, Any]) -> None:
            if event == "round":
                done.clear()
                status.update(f"round {data['round'] + 1}: searching for "
                              f"{data['subjects']} subject(s)…")
            elif event in ("system_done", "system_failed"):
                done.append(data["system"])
                status.update(f"searched {', '.join(done)}…")

        yield update
