"""What every command shares: the loaded config, the engine, and how output is written.

Data goes to stdout (JSON with ``--json``), progress and logs to stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from agent import logging as dsr_logging
from agent.config import Config, find_config_path, load_config
from agent.engine import SearchEngine
from agent.plugins import PluginManager

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class AppContext:
    config_path: str | None
    plugin_manager: PluginManager
    log_level_given: bool = False  # --log-level or DSR_LOG_LEVEL beats [agent] log_level
    _config: Config | None = None
    _engines: list[SearchEngine] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return find_config_path(self.config_path)

    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(
                self.path, schemes=self.plugin_manager.registry.url_schemes())
            if not self.log_level_given:
                dsr_logging.configure(self._config.log_level)
        return self._config

    def engine(self, progress: Any = None) -> SearchEngine:
        engine = SearchEngine(self.config(), self.plugin_manager, progress=progress)
        self._engines.append(engine)
        return engine

    def workflow(self, progress: Any = None) -> Any:
        from agent.workflow import Workflow  # requests need the state store: load on use

        return Workflow(self.config(), self.plugin_manager, self.engine(progress=progress))

    def close(self) -> None:
        for engine in self._engines:
            engine.close()


pass_app = click.make_pass_decorator(AppContext)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True,
                        help="Machine-readable JSON on stdout.")(func)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def stderr_is_tty() -> bool:
    return sys.stderr.isatty()
