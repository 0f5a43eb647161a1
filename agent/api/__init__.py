"""The HTTP API (`dsr serve`): requests over JSON with bearer tokens.

``create_app`` loads on first use, so `dsr tokens` runs without importing FastAPI.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from agent.api.app import create_app

        return create_app
    raise AttributeError(name)
