"""The demo's discovery step: sweep the demo estate, show the data map in brief and check
it against what the estate is known to hold (and that it holds no personal value)."""

from __future__ import annotations

import json
from typing import Any

from agent.cli.render import console
from agent.demo.manifest import Manifest
from agent.discovery.datamap import DataMap
from agent.discovery.sweep import sweep_for
from agent.engine import SearchEngine

# Places the demo estate certainly holds, and one it holds where requests do not look.
EXPECTED = (("crm", "contacts.email", "Contact"), ("crm", "payments.sort_code", "Banking"),
            ("crm", "tickets.notes", "Communications"))
NOT_SEARCHED = ("crm", "web_sessions.ip_address")


def run_sweep(engine: SearchEngine, manifest: Manifest) -> dict[str, Any]:
    datamap = sweep_for(engine).run(actor="demo")
    places = {(e.system, e.container): e for e in datamap.entries}
    checks = [{"what": f"the sweep maps {system} {container} as {group}",
               "ok": group in getattr(places.get((system, container)), "categories", []),
               "detail": "not in the data map, or without that data group"}
              for system, container, group in EXPECTED]
    gaps = {(e.system, e.container) for e in datamap.not_searched()}
    checks.append({"what": "the sweep shows personal data request search would not find "
                           "(" + ".".join(NOT_SEARCHED[1:]) + ")",
                   "ok": NOT_SEARCHED in gaps, "detail": "missing from the coverage gap"})
    text = json.dumps(datamap.public()).lower()
    leaked = sum(1 for member in manifest.cast.values()
                 for values in member.identifiers.values() for value in values
                 if len(value) > 5 and value.lower() in text)
    checks.append({"what": "the data map holds no personal value", "ok": leaked == 0,
                   "detail": f"{leaked} value(s) of the cast found in it"})
    return {"datamap": datamap.public(), "summary": summary(datamap), "checks": checks}


def summary(datamap: DataMap) -> dict[str, Any]:
    return {"places": len(datamap.entries), "categories": datamap.categories(),
            "not_searched": [f"{e.system}:{e.container}" for e in datamap.not_searched()],
            "unreadable": len(datamap.unreadable)}


def print_sweep(sweep: dict[str, Any]) -> None:
    brief = sweep["summary"]
    groups = ", ".join(f"{name} {count}" for name, count in brief["categories"].items())
    console.print(f"[bold]Data map[/bold]: {brief['places']} places hold personal data "
                  f"({groups})")
    if brief["not_searched"]:
        console.print(f"  [yellow]request search would not look at:[/yellow] "
                      f"{', '.join(brief['not_searched'])}")
    console.print("  (dsr discover --html map.html writes the full report)\n")
