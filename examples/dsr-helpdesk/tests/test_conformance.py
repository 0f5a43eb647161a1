"""The dsr-agent conformance kit, run against the connector on a served CRM."""

from __future__ import annotations

import pytest
from conftest import JANE, OTHER_JANE, seed_people, system_entry
from crm_server import CrmServer

from agent.testing import ConnectorConformance as TestConformance  # noqa: F401 - collected
from agent.testing import Seed


@pytest.fixture(params=["delete", "anonymise"])
def dsr_seed(request: pytest.FixtureRequest, crm: CrmServer) -> Seed:
    seed_people(crm)
    return Seed(system=system_entry(crm),
                subject={"email": [JANE["email"]], "name": JANE["name"]},
                lookalike={"email": [OTHER_JANE["email"]], "name": OTHER_JANE["name"]},
                erase_action=request.param)
