"""The connector conformance kit: the suite every connector plugin runs against itself.

In a connector plugin's tests, one line plus a seed fixture::

    from agent.testing import ConnectorConformance as TestConformance

    @pytest.fixture
    def dsr_seed(tmp_path) -> Seed:
        ...  # seed the system afresh: the subject, a look-alike
        return Seed(system={...}, subject={...}, lookalike={...})

The fixtures come from the pytest plugin ``agent.testing.plugin`` (the ``pytest11`` entry
point ``dsr_agent``). See docs/testing.md.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.testing.items import plan_items
    from agent.testing.kit import ConnectorConformance
    from agent.testing.logs import LogCapture
    from agent.testing.run import ConformanceRun
    from agent.testing.seed import Seed

# Imported on first use: pytest loads agent.testing.plugin (and so this package) in every
# test run of an environment where dsr-agent is installed.
_EXPORTS = {"ConformanceRun": "run", "ConnectorConformance": "kit", "LogCapture": "logs",
            "Seed": "seed", "plan_items": "items"}
__all__ = ["ConformanceRun", "ConnectorConformance", "LogCapture", "Seed", "plan_items"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'agent.testing' has no attribute {name!r}")
    return getattr(import_module(f"agent.testing.{_EXPORTS[name]}"), name)
