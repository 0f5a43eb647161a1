"""The demo estate's agent.toml and policy.toml, written beside its database.

One definition serves `dsr demo` and the request tests: the CRM system with the
do-not-contact and restriction markers the agent sets, and the example policy.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

# markers the agent sets, in the demo CRM's own columns
MARKERS = {"customers": "do_not_contact", "contacts": "do_not_contact",
           "prospects": "do_not_contact"}

TEMPLATE = '''\
# Written by dsr-agent's demo. Try: dsr --config {config} search --name "Maya Okafor"
#                                   or: dsr --config {config} request list
# policy.toml beside this file is the example policy: what is erased, what is kept and why.
[agent]
state = "sqlite:///state.sqlite"
hmac_key = "keys/hmac.key"
{agent_extra}
[[systems]]
name = "crm"
url = "{url}"
description = "demo CRM: customers, contacts, prospects, contracts, billing, calls"
{tables}
# an objection to marketing switches every channel off
[systems.tables.marketing_preferences]
suppress = {{ opted_in = false }}
{extra}'''


def write_config(folder: Path, url: str, *, agent_extra: str = "", extra: str = "") -> Path:
    """Write ``agent.toml`` (the CRM at ``url``) and the example ``policy.toml``."""
    tables = "".join(f'\n[systems.tables.{table}]\nsuppress = "{column}"\n'
                     f'restrict = "restricted"\n' for table, column in MARKERS.items())
    path = folder / "agent.toml"
    path.write_text(TEMPLATE.format(config=path, url=url, tables=tables,
                                    agent_extra=agent_extra, extra=extra), encoding="utf-8")
    (folder / "policy.toml").write_bytes(
        resources.files("agent.demo").joinpath("policy.toml").read_bytes())
    return path
