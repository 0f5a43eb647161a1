"""A connector for a hosted helpdesk CRM with a JSON API: contacts, and their tickets.

```toml
[[systems]]
name = "helpdesk"
connector = "helpdesk"
url = "https://crm.example.com/api/v1"
token = "${HELPDESK_TOKEN}"
```

Locators are ``contacts:<id>`` and ``tickets:<id>``. A contact is found by its e-mail or
phone (strong) or its name (weak: the core decides); a ticket is found through its contact
(a link) or because its subject or notes quote the person's e-mail or phone (a mention).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import phonenumbers
import structlog

from agent.config import SystemConfig
from agent.connector import CheckResult, Connector, ConnectorContext, Container
from agent.errors import ConnectorError
from agent.identifiers import phone_variants, try_normalise
from agent.models import Finding, Subject
from agent.plans import Outcome, PlanItem
from agent.sampling import FieldSample, Sample, SampleOptions, fingerprint
from dsr_helpdesk.client import HelpdeskClient
from dsr_helpdesk.options import parse_options

log = structlog.get_logger("dsr_helpdesk")

# collection -> (the fields a sweep samples, the policy's data groups)
COLLECTIONS: dict[str, tuple[tuple[str, ...], list[str]]] = {
    "contacts": (("name", "email", "phone", "company"), ["Contact"]),
    "tickets": (("subject", "notes"), ["Communications"]),
}
IDENTITY = ("email", "phone", "name")  # contact fields that are identifiers, by type
ERASED = "[erased]"  # what an anonymised ticket's subject and notes become
LINK = "tickets.contact_id"


class HelpdeskConnector(Connector):
    name: ClassVar[str] = "helpdesk"
    description: ClassVar[str] = "a hosted helpdesk CRM over its JSON API (contacts, tickets)"
    url_schemes: ClassVar[tuple[str, ...]] = ()  # https is not ours alone: name the connector
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"check", "discover", "sample", "search", "read", "erase", "suppress"})

    def __init__(self, system: SystemConfig, context: ConnectorContext | None = None) -> None:
        super().__init__(system, context)
        self.options = parse_options(system)  # a ConfigError here stops start-up, clearly
        self.client = HelpdeskClient(system.name, system.url, self.options.token,
                                     timeout=self.options.request_timeout,
                                     page_size=self.options.page_size)

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------------------ reach
    def check(self) -> CheckResult:
        try:
            self.client.get("me")
            total = self.client.get("contacts", params={"limit": 1}).get("total")
        except ConnectorError as exc:
            return CheckResult(ok=False, detail=str(exc))
        return CheckResult(ok=True, detail=f"{total} contacts")

    def discover(self) -> Iterator[Container]:
        for collection, (fields, categories) in COLLECTIONS.items():
            head = self.client.get(collection, params={"limit": 1})
            yield Container(name=collection, kind="table", items=head.get("total"),
                            fields=list(fields), notes={"categories": categories})

    def sample(self, container: Container, options: SampleOptions) -> Iterator[Sample]:
        if container.name not in COLLECTIONS:
            raise ConnectorError(f"system {self.system.name!r}: no collection "
                                 f"{container.name!r} (discover() lists contacts, tickets)")
        head = self.client.get(container.name, params={"limit": 1})
        total = int(head.get("total") or 0)
        # the API says when anything last changed and how many records there are
        mark = fingerprint(container.name, total, head.get("last_modified"))
        if options.unchanged(container.name, mark):
            yield Sample(unit=container.name, fingerprint=mark, unchanged=True)
            return
        try:
            rows = list(self.client.pages(container.name, limit=options.values_per_column))
        except ConnectorError as exc:
            yield Sample(unit=container.name, fingerprint=mark, error=str(exc))
            return
        fields = [FieldSample(container=f"{container.name}.{name}", kind="column",
                              values=[r[name] for r in rows if r.get(name) not in (None, "")],
                              column=name, size=total)
                  for name in COLLECTIONS[container.name][0]]
        yield Sample(unit=container.name, fingerprint=mark, fields=fields)

    # ------------------------------------------------------------------ search
    def search(self, subjects: Sequence[Subject]) -> Iterator[Finding]:
        wanted = [(s, s.to_search()) for s in subjects]
        contacts = self._query("contacts", {
            "email": {i.value for _, ids in wanted for i in ids if i.type == "email"},
            "phone": {_digits(i.value) for _, ids in wanted for i in ids if i.type == "phone"},
            "name": {i.value for _, ids in wanted for i in ids if i.type == "name"},
        })
        # confirm each match in Python: the API's matching is looser than ours
        hits: list[tuple[Subject, dict[str, Any], set[str]]] = []
        for subject, ids in wanted:
            for contact in contacts:
                values = _values(contact)
                matched = {i.id for i in ids if i.value in values.get(i.type, ())}
                if matched:
                    hits.append((subject, contact, matched))
        texts = {v for _, ids in wanted for i in ids if i.type in ("email", "phone")
                 for v in _writings(i.type, i.value)}
        tickets = self._query("tickets", {"contact_id": {c["id"] for _, c, _ in hits},
                                          "text": texts})
        found = 0
        for subject, ids in wanted:
            own = {c["id"]: self._contact(subject, c, m) for s, c, m in hits if s is subject}
            yield from own.values()
            for ticket in tickets:
                finding = self._ticket(subject, ids, ticket, own)
                if finding is not None:
                    found += 1
                    yield finding
            found += len(own)
        log.info("helpdesk.search", system=self.system.name, subjects=len(subjects),
                 contacts=len(contacts), tickets=len(tickets), findings=found)

    def _query(self, collection: str, fields: dict[str, set[Any]]) -> list[dict[str, Any]]:
        """POST the values to the collection's search, ``batch_size`` values a request;
        records once each."""
        pairs = [(key, value) for key, values in fields.items()
                 for value in sorted(values, key=str)]
        size = self.options.batch_size
        out: dict[int, dict[str, Any]] = {}
        for start in range(0, len(pairs), size):
            body: dict[str, list[Any]] = {}
            for key, value in pairs[start:start + size]:
                body.setdefault(key, []).append(value)
            for record in self.client.post(f"{collection}/search", body).get("data") or []:
                out[record["id"]] = record
        return list(out.values())

    def _contact(self, subject: Subject, contact: dict[str, Any], matched: set[str]
                 ) -> Finding:
        values = _values(contact)
        return Finding(system=self.system.name, kind="row", locator=f"contacts:{contact['id']}",
                       subject=subject.ref, container="contacts",
                       categories=list(COLLECTIONS["contacts"][1]), internal_matched_ids=matched,
                       internal_values=values,
                       internal_holder=next(iter(values.get("name", ())), None),
                       internal_party="person" if contact.get("name") else None)

    def _ticket(self, subject: Subject, ids: Sequence[Any], ticket: dict[str, Any],
                own: dict[int, Finding]) -> Finding | None:
        text = f"{ticket.get('subject') or ''}\n{ticket.get('notes') or ''}"
        quoted = {i.id for i in ids if i.type in ("email", "phone")
                  and any(_quotes(text, w) for w in _writings(i.type, i.value))}
        parent = own.get(ticket.get("contact_id"))  # type: ignore[arg-type]
        if parent is None and not quoted:
            return None
        finding = Finding(system=self.system.name, kind="row",
                          locator=f"tickets:{ticket['id']}", subject=subject.ref,
                          container="tickets", categories=list(COLLECTIONS["tickets"][1]),
                          internal_matched_ids=quoted)
        if parent is not None:
            finding.internal_parent, finding.internal_link = parent.id, LINK
        return finding  # a mention alone: no holder, no values (they are someone else's)

    # ------------------------------------------------------------------ read
    def read(self, findings: Sequence[Finding]) -> Iterator[dict[str, Any]]:
        for finding in findings:
            if finding.system != self.system.name:
                continue
            collection, key = _parse(finding.locator)
            record = self.client.get(f"{collection}/{key}", missing_ok=True)
            if record is not None:
                yield {"finding": finding.id, "table": collection, "row": record}

    # ------------------------------------------------------------------ actions
    def actions_for(self, finding: Finding) -> frozenset[str]:
        actions = {"delete", "anonymise", "export"}
        if finding.locator.startswith("contacts:"):
            actions.add("suppress")  # tickets have no do-not-contact flag
        return frozenset(actions)

    def kept_references(self, plan_items: Sequence[PlanItem]) -> dict[str, str]:
        deleting = {_parse(i.locator or ""): i.id for i in plan_items if i.action == "delete"}
        contacts = {key: item_id for (collection, key), item_id in deleting.items()
                    if collection == "contacts"}
        if not contacts:
            return {}
        tickets = self._query("tickets", {"contact_id": set(contacts)})
        return {contacts[t["contact_id"]]: "tickets that stay refer to it"
                for t in tickets if ("tickets", t["id"]) not in deleting}

    def erase(self, plan_items: Sequence[PlanItem]) -> Iterator[Outcome]:
        """Tickets before contacts. The API has no transactions: every record is read and
        every refusal the API would give is checked before the first change, so a plan
        that cannot complete changes nothing. A failure during the changes (the service
        going down) raises ConnectorError saying how many were made; each change is
        idempotent, so running the plan again finishes it (made ones answer ``absent``)."""
        items = sorted(plan_items, key=lambda i: not (i.locator or "").startswith("tickets:"))
        steps: list[tuple[PlanItem, str, int]] = []
        outcomes: dict[str, Outcome] = {}
        for item in items:
            if item.action not in ("delete", "anonymise"):
                outcomes[item.id] = Outcome(item.id, "failed",
                                            detail=f"cannot {item.action} in a helpdesk")
                continue
            collection, key = _parse(item.locator or "")
            record = self.client.get(f"{collection}/{key}", missing_ok=True)
            if record is None or (item.action == "anonymise" and _anonymised(record)):
                outcomes[item.id] = Outcome(item.id, "absent")
            else:
                steps.append((item, collection, key))
        self._refuse_orphaning(steps)
        for done, (item, collection, key) in enumerate(steps):
            try:
                outcomes[item.id] = self._erase_one(item, collection, key)
            except ConnectorError as exc:
                raise ConnectorError(f"{exc}; erase stopped after {done} of {len(steps)} "
                                     "changes: run the plan again to finish") from None
        log.info("helpdesk.erase", system=self.system.name, items=len(plan_items),
                 changed=len(steps))
        yield from (outcomes[i.id] for i in plan_items)

    def _refuse_orphaning(self, steps: Sequence[tuple[PlanItem, str, int]]) -> None:
        """The API refuses to delete a contact that still has tickets: find out first."""
        deleting = {(c, k) for item, c, k in steps if item.action == "delete"}
        contacts = {k for c, k in deleting if c == "contacts"}
        if not contacts:
            return
        tickets = self._query("tickets", {"contact_id": contacts})
        if any(("tickets", t["id"]) not in deleting for t in tickets):
            raise ConnectorError(f"system {self.system.name!r}: cannot delete contacts whose "
                                 "tickets stay (plan their tickets too, or anonymise); "
                                 "nothing was changed")

    def _erase_one(self, item: PlanItem, collection: str, key: int) -> Outcome:
        path = f"{collection}/{key}"
        if item.action == "delete":
            gone = self.client.delete(path, missing_ok=True)
            return Outcome(item.id, "done" if gone else "absent",
                           counts={"deleted": 1} if gone else {})
        blank = ({"subject": ERASED, "notes": ERASED} if collection == "tickets"
                 else dict.fromkeys(IDENTITY))
        record = self.client.patch(path, blank, missing_ok=True)
        if record is None:
            return Outcome(item.id, "absent")
        return Outcome(item.id, "done", counts={"anonymised": 1})

    def suppress(self, plan_items: Sequence[PlanItem]) -> Iterator[Outcome]:
        outcomes: dict[str, Outcome] = {}
        marking: list[PlanItem] = []
        for item in plan_items:  # read them all first: nothing changes if one fails
            collection, key = _parse(item.locator or "")
            if collection != "contacts":
                outcomes[item.id] = Outcome(item.id, "skipped",
                                            detail="tickets have no do-not-contact flag")
                continue
            record = self.client.get(f"contacts/{key}", missing_ok=True)
            if record is None or record.get("do_not_contact"):
                outcomes[item.id] = Outcome(item.id, "absent")
            else:
                marking.append(item)
        for done, item in enumerate(marking):
            try:
                record = self.client.patch(f"contacts/{_parse(item.locator or '')[1]}",
                                           {"do_not_contact": True}, missing_ok=True)
            except ConnectorError as exc:
                raise ConnectorError(f"{exc}; suppress stopped after {done} of "
                                     f"{len(marking)} changes: run the plan again to "
                                     "finish") from None
            outcomes[item.id] = (Outcome(item.id, "done", counts={"marked": 1})
                                 if record is not None else Outcome(item.id, "absent"))
        log.info("helpdesk.suppress", system=self.system.name, items=len(plan_items),
                 changed=len(marking))
        yield from (outcomes[i.id] for i in plan_items)


# ---------------------------------------------------------------------- helpers

def _parse(locator: str) -> tuple[str, int]:
    collection, _, key = locator.partition(":")
    if collection not in COLLECTIONS or not key.isdigit():
        raise ConnectorError(f"not a helpdesk locator (contacts:<id> or tickets:<id>): "
                             f"{collection!r}")
    return collection, int(key)


def _values(contact: dict[str, Any]) -> dict[str, set[str]]:
    """The contact's identifiers, normalised, by type (what the core attributes with)."""
    out: dict[str, set[str]] = {}
    for kind in IDENTITY:
        value = try_normalise(kind, contact[kind]) if contact.get(kind) else None
        if value:
            out[kind] = {value}
    return out


def _anonymised(record: dict[str, Any]) -> bool:
    if "notes" in record:
        return record.get("subject") == ERASED and record.get("notes") == ERASED
    return all(record.get(kind) in (None, "") for kind in IDENTITY)


def _digits(e164: str) -> str:
    """The national number's digits: the API matches a stored phone ending with them,
    whatever way it was written (07700 900123, +44 (0)7700-900-123...)."""
    return str(phonenumbers.parse(e164, None).national_number)


def _writings(kind: str, value: str) -> list[str]:
    """How a value may be written in a ticket's text."""
    return phone_variants(value) if kind == "phone" else [value]


def _quotes(text: str, writing: str) -> bool:
    """``writing`` stands in ``text`` on its own (not inside a longer address or number)."""
    pattern = rf"(?<![\w.+-]){re.escape(writing)}(?![\w-]|\.\w)"
    return re.search(pattern, text, flags=re.IGNORECASE) is not None
