"""A demo estate with policy.toml and a manual system, for request workflow tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.config import Config, load_config
from agent.demo.config import write_config
from agent.demo.estate import build_estate
from agent.demo.manifest import Manifest
from agent.plugins import get_plugin_manager
from agent.workflow import Workflow

REPO = Path(__file__).resolve().parent.parent

MANUAL_SYSTEM = '''
[[systems]]
name = "cctv"
connector = "manual"
url = "manual://cctv"
description = "CCTV recorder at the Leeds office"
'''


@dataclass
class Estate:
    folder: Path
    url: str
    manifest: Manifest
    config_path: Path

    def config(self) -> Config:
        return load_config(self.config_path)

    def workflow(self) -> Workflow:
        return Workflow(self.config(), get_plugin_manager())


def make_estate(folder: Path, url: str | None = None, *, agent_extra: str = "",
                manual: bool = True) -> Estate:
    folder.mkdir(parents=True, exist_ok=True)
    url = url or f"sqlite:///{(folder / 'crm.sqlite').as_posix()}"
    manifest = build_estate(url)
    path = write_config(folder, url, agent_extra=agent_extra,
                        extra=MANUAL_SYSTEM if manual else "")
    return Estate(folder, url, manifest, path)


@pytest.fixture
def estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Estate:
    made = make_estate(tmp_path / "estate")
    monkeypatch.setenv("DSR_CONFIG", str(made.config_path))
    return made
