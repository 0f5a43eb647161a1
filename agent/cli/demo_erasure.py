"""The second half of `dsr demo`: an erasure request taken from plan to verified result.

create → verify identity → plan (policy.toml decides) → approve → run through the journal →
verify by searching again → sign off the notices. Shows what was kept and why, and checks
the result against the estate's manifest: nothing of the person left beyond what the law
keeps, nothing of the look-alike touched.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

from rich.markup import escape

from agent.cli.render import console
from agent.demo.manifest import CastMember
from agent.models import Subject
from agent.plans import PlanItem
from agent.receipt_store import verify_document
from agent.subjects import subject_from_pairs
from agent.workflow import Workflow

OPERATOR = "demo"
APPROVER = "demo-dpo"


def run_erasure(workflow: Workflow, member: CastMember, lookalike: CastMember | None
                ) -> dict[str, Any]:
    """Take an erasure request for ``member`` all the way; return what happened + checks."""
    request = workflow.create("erasure", list(member.search), actor=OPERATOR)
    workflow.verify(request.id, ["passport", "utility_bill"], by=OPERATOR,
                    issued={"utility_bill": date.today() - timedelta(days=20)})
    plan = workflow.plan(request.id, actor=OPERATOR, reason="demo")
    workflow.approve(request.id, by=APPROVER)
    result = workflow.run(request.id, actor=OPERATOR)
    for item in plan.items:
        if item.included and item.action in ("notify", "manual"):
            workflow.signoff(request.id, item.id, by=APPROVER,
                             note="demo: recipient told by e-mail")
    final = workflow.get(request.id)
    checks = _checks(workflow, member, lookalike, plan.items, result.summary, final.status)
    receipt = workflow.receipts.document(request.id)
    verified = verify_document(receipt, workflow.receipts.keys.public_keys(), pinned=True)
    checks.append({"what": "signed receipt issued and verified (Ed25519 signature, signed "
                           "checkpoint, inclusion in the ledger)", "ok": verified.ok,
                   "detail": "; ".join(c.get("detail", c["check"]) for c in verified.checks
                                       if not c["ok"])})
    return {"request": final.public(), "plan": plan.public(), "run": result.summary,
            "receipt": receipt, "checks": checks, "exit_code": result.exit_code}


def _checks(workflow: Workflow, member: CastMember, lookalike: CastMember | None,
            items: list[PlanItem], summary: dict[str, Any], status: str
            ) -> list[dict[str, Any]]:
    verification = summary["verification"]
    residual = sum(verification["residual"].values())
    retained = [i for i in items if i.action == "retain"]
    checks = [
        {"what": "verified by a fresh search: nothing left beyond what is retained",
         "ok": residual == 0 and not verification["failed_systems"],
         "detail": f"{residual} residual match(es)"},
        {"what": f"{len(retained)} record(s) retained, each with its legal basis and "
                 "until-date", "ok": all(i.basis and i.until for i in retained),
         "detail": ", ".join(i.id for i in retained if not (i.basis and i.until))},
        {"what": "request completed", "ok": status == "completed", "detail": status},
    ]
    if lookalike is not None:
        subject = subject_from_pairs(lookalike.key, list(lookalike.search))
        still = _strong_locators(workflow, subject)
        missing = set(lookalike.attributed) - still
        checks.append({"what": f"look-alike {lookalike.name}'s {len(lookalike.attributed)} "
                               "record(s) untouched",
                       "ok": not missing, "detail": ", ".join(sorted(missing))})
    return checks


def _strong_locators(workflow: Workflow, subject: Subject) -> set[str]:
    [result] = workflow.engine.search([subject], operator=OPERATOR, reason="demo check")
    return {f.locator for f in result.findings if f.strength == "strong"}


def print_erasure(outcome: dict[str, Any]) -> None:
    request, plan, run = outcome["request"], outcome["plan"], outcome["run"]
    console.print(f"\n[bold]Erasure request {request['id']}[/bold] — received today, due "
                  f"{request['deadline']}; identity checked (passport, utility bill)")
    actions = Counter(i["action"] for i in plan["items"] if i.get("included", True))
    console.print("Plan: " + ", ".join(f"{n} {a}" for a, n in sorted(actions.items())))
    console.print("\n[bold]Kept, and why[/bold]")
    kept = [i for i in plan["items"] if i["action"] == "retain"]
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for item in kept:
        by_rule.setdefault(item.get("rule", "?"), []).append(item)
    for rule, group in sorted(by_rule.items()):
        until = sorted({i.get("until", "?") for i in group})
        console.print(f"  [cyan]{rule}[/cyan]: {len(group)} record(s) "
                      f"({', '.join(sorted({i['container'] for i in group}))}) "
                      f"until {', '.join(until)}")
        basis = " ".join((group[0].get("basis") or "").split())
        console.print(f"      [dim]{escape(basis)}[/dim]")
    console.print("\n[bold]Erased[/bold]")
    for action in ("delete", "anonymise"):
        tables = Counter(i["container"] for i in plan["items"]
                         if i["action"] == action and i.get("included", True))
        if tables:
            verb = "deleted" if action == "delete" else "anonymised"
            console.print(f"  {verb}: " + ", ".join(f"{t} ({n})" for t, n in
                                                   sorted(tables.items())))
    verification = run["verification"]
    console.print(f"\nVerified by searching again: "
                  f"{sum(verification['residual'].values())} residual match(es)")
    if run.get("suppression_entries_added"):
        console.print(f"Suppression list: {run['suppression_entries_added']} keyed digest(s), "
                      "so a bought-in list containing her is screened out")
    notices = [i["id"].split(":", 1)[1] for i in plan["items"] if i["action"] == "notify"]
    if notices:
        console.print(f"Recipients told (Art 19, signed off): {', '.join(notices)}")
    console.print(f"Request status: [bold]{request['status']}[/bold]")
    receipt = outcome["receipt"]
    console.print(f"Receipt {receipt['receipt']['receipt_id']}: signed with key "
                  f"{receipt['key']['kid']}, entry {receipt['ledger']['index']} of the "
                  f"ledger (dsr receipt show {request['id']} --out receipt.json; "
                  "dsr receipt verify receipt.json)")
