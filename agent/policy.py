"""policy.toml: the controller's data groups, recipients, retention rules and mappings.

The one place controller-specific facts live (what each group is for and on what lawful
basis, who receives it, how long it is kept and why, which tables, folders and prefixes hold
it, and the identity documents a request needs). Loaded once, validated up front: every
error names the file and the key (``policy.toml: [retention.prospect.basis] ...``).
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from agent.deadlines import add_months
from agent.errors import ConfigError, DsrError

DEFAULT_POLICY = "policy.toml"

# The policy's data groups ("groups of personal information"), in its own spelling.
DATA_GROUPS: tuple[str, ...] = (
    "Banking", "CCTV", "Communications", "Contact", "Contractual", "Financial",
    "Open Data and Public Records", "Technical", "Transactional", "Usage Data",
)
_GROUP_ALIASES = {g.lower(): g for g in DATA_GROUPS} | {
    "usage": "Usage Data", "open data": "Open Data and Public Records"}

LAWFUL_BASES = ("contract", "legal_obligation", "legitimate_interests", "consent",
                "vital_interests", "public_task")
ACTIONS = ("delete", "anonymise", "retain", "suppress")
ANCHORS = ("contract_end", "last_contact", "created", "collected")
WHILE_CONDITIONS = ("contract_live",)
HOLD_CONDITIONS = ("open_complaint", "dispute", "legal_claim")
BACKUP_MODES = ("rewrite", "beyond_use")
REQUEST_TYPES = ("access", "portability", "erasure", "rectify", "object", "restrict")

# The policy's list of identity documents; the value is the maximum age in months, if any.
DEFAULT_DOCUMENTS: dict[str, int | None] = {
    "passport": None, "driving_licence": None, "birth_certificate": None,
    "utility_bill": 3, "vehicle_registration": None, "bank_statement": 3,
}
# "two forms of ID" for requests that disclose or destroy data; an objection needs none.
DEFAULT_REQUIRED: dict[str, int] = {
    "access": 2, "portability": 2, "erasure": 2, "rectify": 2, "restrict": 2, "object": 0,
}

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_MAX_YEARS = 100
_MAX_MONTHS = 1200

Action = Literal["delete", "anonymise", "retain", "suppress"]
BackupMode = Literal["rewrite", "beyond_use"]


def data_group(value: str) -> str | None:
    """The policy's spelling of a data group ("usage" -> "Usage Data"), or None."""
    return _GROUP_ALIASES.get(value.strip().lower())


@dataclass(frozen=True)
class DataGroup:
    name: str
    description: str
    purposes: tuple[str, ...]
    basis: tuple[str, ...]
    legitimate_interests: str | None
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Recipient:
    name: str
    description: str
    groups: tuple[str, ...]
    # told of each erasure, rectification or restriction (Art 19); false for recipients
    # that receive data only case by case (authorities), whom a person decides to tell
    notify: bool = True


@dataclass(frozen=True)
class RetentionRule:
    name: str
    basis: str
    action: Action
    anchor: str | None = None
    years: int = 0
    months: int = 0
    while_: str | None = None
    hold_on: tuple[str, ...] = ()
    description: str = ""

    @property
    def has_period(self) -> bool:
        return self.anchor is not None and (self.years or self.months) > 0

    def until(self, anchor_dates: Mapping[str, date]) -> date | None:
        """The last day the data may be kept, from the anchor's date.

        None when the rule keeps nothing for a period (delete, anonymise, suppress) or keeps
        only while a condition holds. A retain rule whose anchor date is unknown is an error:
        guessing would either keep data too long or erase what the law requires.
        """
        if self.action != "retain" or not self.has_period:
            return None
        assert self.anchor is not None  # has_period
        start = anchor_dates.get(self.anchor)
        if start is None:
            raise DsrError(f"retention rule {self.name!r} needs the {self.anchor} date")
        return add_months(start, self.years * 12 + self.months)


@dataclass(frozen=True)
class MappingEntry:
    system: str
    container: str
    group: str
    rule: str
    whole_document: bool = False
    backup: BackupMode = "beyond_use"
    index: int = 0
    # anchor name -> field holding its date in this container's records
    # (contracts: contract_end = "end_date"); the planner reads them for until-dates
    dates: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # fields an erasure keeps under another rule (a call record's billing columns): the
    # record is anonymised, not deleted, and these fields stay
    keep_fields: tuple[str, ...] = ()
    keep_rule: str | None = None

    def matches(self, system: str, container: str) -> bool:
        return (fnmatch.fnmatchcase(system.lower(), self.system.lower())
                and fnmatch.fnmatchcase(container.lower(), self.container.lower()))

    @property
    def specificity(self) -> tuple[int, int, int, int]:
        """Exact beats glob, then more literal characters; the container counts first."""
        return (*_pattern_weight(self.container), *_pattern_weight(self.system))


def _pattern_weight(pattern: str) -> tuple[int, int]:
    literal = len(re.sub(r"[*?]|\[[^\]]*\]", "", pattern))
    return (0 if any(c in pattern for c in "*?[") else 1, literal)


@dataclass(frozen=True)
class IdentityCheck:
    documents: Mapping[str, int | None] = field(
        default_factory=lambda: MappingProxyType(dict(DEFAULT_DOCUMENTS)))
    required: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType(dict(DEFAULT_REQUIRED)))
    # the business asks for ID when it acknowledges a request: the month then counts from
    # the day the ID arrives (off: the clock runs from receipt unless ID is asked for later)
    ask_on_receipt: bool = False
    # a request waiting this long for the ID it asked for stands out (chase or close it)
    chase_after_days: int = 14

    def required_for(self, request_type: str) -> int:
        return self.required[request_type]

    def max_age_months(self, document: str) -> int | None:
        return self.documents[document]


# The controller facts a SAR cover letter quotes (UK GDPR Art 13-15), key -> what it is.
CONTROLLER_FACTS: dict[str, str] = {
    "name": "the controller's legal name",
    "address": "the controller's postal address",
    "dpo": "how to contact the data protection officer or privacy team",
    "transfers": "transfers outside the UK and their safeguards (or that there are none)",
    "automated_decisions": "automated decision-making, including credit checks: the logic "
                           "and what it means for the person (or that there is none)",
}


@dataclass(frozen=True)
class ControllerFacts:
    """``[controller]`` in policy.toml; every fact optional until a package needs it."""

    name: str = ""
    address: str = ""
    dpo: str = ""
    transfers: str = ""
    automated_decisions: str = ""

    def missing(self) -> list[str]:
        return [key for key in CONTROLLER_FACTS if not getattr(self, key)]


@dataclass(frozen=True)
class Policy:
    path: str
    controller: str
    groups: Mapping[str, DataGroup]
    recipients: Mapping[str, Recipient]
    retention: Mapping[str, RetentionRule]
    mappings: tuple[MappingEntry, ...]
    identity: IdentityCheck
    # the rule for a container no [[mapping]] names; None = a person decides (manual item)
    default_rule: str | None = None
    controller_facts: ControllerFacts = field(default_factory=ControllerFacts)
    # detector name -> the data groups a discovery sweep files its detections under
    # ([detections]; a detector left out keeps the groups it declares)
    detections: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({}))

    def group(self, name: str) -> DataGroup:
        return self.groups[data_group(name) or name]

    def recipients_of(self, group: str) -> tuple[Recipient, ...]:
        """Who receives a group's data: each is notified of an erasure (Art 19)."""
        name = data_group(group) or group
        return tuple(r for r in self.recipients.values() if name in r.groups)

    def mapping_for(self, system: str, container: str) -> MappingEntry | None:
        """The most specific mapping for a system's table, folder or prefix; ties go first."""
        best: MappingEntry | None = None
        for entry in self.mappings:
            if entry.matches(system, container) and (
                    best is None or entry.specificity > best.specificity):
                best = entry
        return best

    def rule_for(self, system: str, container: str) -> tuple[DataGroup, RetentionRule] | None:
        entry = self.mapping_for(system, container)
        if entry is None:
            return None
        return self.groups[entry.group], self.retention[entry.rule]


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file; errors name the file and the key."""
    policy_path = Path(path).expanduser()
    where = str(policy_path)
    try:
        data = tomllib.loads(policy_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError("policy file not found (config/policy.toml is an example)",
                          path=where) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=where) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=where) from exc
    return policy_from_dict(data, where)


_TOP_KEYS = {"controller", "groups", "recipients", "retention", "mapping", "identity_check",
             "default_rule", "detections"}
_GROUP_KEYS = {"description", "purposes", "basis", "legitimate_interests", "sources"}
_RECIPIENT_KEYS = {"description", "groups", "notify"}
_RULE_KEYS = {"basis", "action", "anchor", "years", "months", "while", "hold_on",
              "description"}
_MAPPING_KEYS = {"system", "container", "group", "rule", "whole_document", "backup", "dates",
                 "keep"}
_KEEP_KEYS = {"rule", "fields"}
_IDENTITY_KEYS = {"documents", "required", "ask_on_receipt", "chase_after_days"}
_DOCUMENT_KEYS = {"max_age_months"}


def policy_from_dict(data: Mapping[str, Any], where: str) -> Policy:
    """Validate parsed TOML (a policy file, or a ``[policy]`` table) labelled ``where``."""
    v = _Validator(where)
    v.known(data, _TOP_KEYS, None)
    facts = _controller(v, data.get("controller", ""))
    groups = {g.name: g for g in _groups(v, data.get("groups"))}
    recipients = {r.name: r for r in _recipients(v, data.get("recipients", {}), groups)}
    retention = {r.name: r for r in _rules(v, data.get("retention"))}
    mappings = _mappings(v, data.get("mapping", []), groups, retention)
    identity = _identity(v, data.get("identity_check", {}))
    detections = _detections(v, data.get("detections", {}), groups)
    default_rule = data.get("default_rule")
    if default_rule is not None and default_rule not in retention:
        raise v.error(f"unknown retention rule; defined: {', '.join(sorted(retention))}",
                      "default_rule")
    # read-only views: a loaded policy is shared by every request and must not drift
    return Policy(path=where, controller=facts.name, groups=MappingProxyType(groups),
                  recipients=MappingProxyType(recipients),
                  retention=MappingProxyType(retention), mappings=mappings, identity=identity,
                  default_rule=default_rule, controller_facts=facts,
                  detections=MappingProxyType(detections))


def _detections(v: _Validator, raw: Any, groups: Mapping[str, DataGroup]
                ) -> dict[str, tuple[str, ...]]:
    """``[detections]``: ``detector = ["Group", ...]``, each group one the policy defines.
    Detector names are checked when a sweep starts (plugins register them)."""
    body = v.table(raw, "detections", 'detector = ["Data group", ...]')
    out: dict[str, tuple[str, ...]] = {}
    for name, value in body.items():
        key = f"detections.{name}"
        names = v.texts(value, key)
        out[name] = tuple(v.group(g, groups, key) for g in names)
    return out


def _controller(v: _Validator, raw: Any) -> ControllerFacts:
    """``controller = "Name"`` (older files) or a ``[controller]`` table of facts."""
    if isinstance(raw, str):
        return ControllerFacts(name=v.text(raw, "controller", allow_empty=True))
    body = v.table(raw, "controller", 'a name, or [controller] with name, address, dpo, ...')
    v.known(body, set(CONTROLLER_FACTS), "controller")
    return ControllerFacts(**{key: v.text(body[key], f"controller.{key}")
                              for key in CONTROLLER_FACTS if key in body})


class _Validator:
    """Type checks that raise ConfigError naming the file and the dotted key."""

    def __init__(self, where: str) -> None:
        self.where = where

    def error(self, message: str, key: str | None) -> ConfigError:
        return ConfigError(message, path=self.where, key=key)

    def table(self, value: Any, key: str, hint: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.error(f"must be a table: {hint}", key)
        return value

    def known(self, raw: Mapping[str, Any], allowed: set[str], key: str | None) -> None:
        unknown = sorted(set(raw) - allowed)
        if unknown:
            prefix = f"{key}." if key else ""
            raise self.error(f"unknown key {unknown[0]!r}; known: {sorted(allowed)}",
                             f"{prefix}{unknown[0]}")

    def entry(self, value: Any, key: str, hint: str, allowed: set[str],
              name: str | None = None) -> Mapping[str, Any]:
        """One table of settings: its name (when named) and its keys checked."""
        if name is not None and not _NAME.match(name):
            raise self.error("name must be lower case letters, digits and _", key)
        body = self.table(value, key, hint)
        self.known(body, allowed, key)
        return body

    def text(self, value: Any, key: str, *, allow_empty: bool = False) -> str:
        if not isinstance(value, str) or not (allow_empty or value.strip()):
            raise self.error("must be non-empty text", key)
        return value.strip()

    def texts(self, value: Any, key: str) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(x, str) and x.strip()
                                                  for x in value):
            raise self.error("must be a list of text", key)
        return tuple(x.strip() for x in value)

    def choice(self, value: Any, choices: tuple[str, ...], key: str) -> str:
        if value not in choices:
            raise self.error(f"must be one of {', '.join(choices)}", key)
        return str(value)

    def whole(self, value: Any, key: str, low: int, high: int) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise self.error(f"must be a whole number from {low} to {high}", key)
        return value

    def flag(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.error("must be true or false", key)
        return value

    def group(self, value: Any, groups: Mapping[str, DataGroup], key: str) -> str:
        name = data_group(value) if isinstance(value, str) else None
        if name is None:
            raise self.error(f"unknown data group; the policy's groups are "
                             f"{', '.join(DATA_GROUPS)}", key)
        if name not in groups:
            raise self.error(f"data group {name!r} is not defined in [groups]", key)
        return name


def _groups(v: _Validator, raw: Any) -> list[DataGroup]:
    if raw is None:
        raise v.error("is required: one [groups.NAME] table per data group", "groups")
    raw = v.table(raw, "groups", "[groups.NAME]")
    out: list[DataGroup] = []
    seen: set[str] = set()
    for label, body in raw.items():
        name = data_group(label)
        key = f"groups.{label}"
        if name is None:
            raise v.error(f"unknown data group; the policy's groups are "
                          f"{', '.join(DATA_GROUPS)}", key)
        if name in seen:
            raise v.error(f"data group {name!r} is defined twice", key)
        seen.add(name)
        body = v.entry(body, key, "description, purposes, basis, sources", _GROUP_KEYS)
        bases = v.texts(body.get("basis"), f"{key}.basis")
        if not bases:
            raise v.error("needs at least one lawful basis", f"{key}.basis")
        for basis in bases:
            v.choice(basis, LAWFUL_BASES, f"{key}.basis")
        interests = body.get("legitimate_interests")
        if "legitimate_interests" in bases:
            interests = v.text(interests, f"{key}.legitimate_interests")
        elif interests is not None:
            raise v.error("only with basis legitimate_interests", f"{key}.legitimate_interests")
        out.append(DataGroup(
            name=name, description=v.text(body.get("description", ""), f"{key}.description",
                                          allow_empty=True),
            purposes=v.texts(body.get("purposes", []), f"{key}.purposes"),
            basis=bases, legitimate_interests=interests,
            sources=v.texts(body.get("sources", []), f"{key}.sources")))
    return out


def _recipients(v: _Validator, raw: Any, groups: Mapping[str, DataGroup]) -> list[Recipient]:
    raw = v.table(raw, "recipients", "[recipients.NAME]")
    out: list[Recipient] = []
    for name, body in raw.items():
        key = f"recipients.{name}"
        body = v.entry(body, key, "description, groups", _RECIPIENT_KEYS, name)
        received = v.texts(body.get("groups"), f"{key}.groups")
        if not received:
            raise v.error("must name the data groups the recipient receives", f"{key}.groups")
        out.append(Recipient(
            name=name, description=v.text(body.get("description"), f"{key}.description"),
            groups=tuple(v.group(g, groups, f"{key}.groups") for g in received),
            notify=v.flag(body.get("notify", True), f"{key}.notify")))
    return out


def _rules(v: _Validator, raw: Any) -> list[RetentionRule]:
    if raw is None:
        raise v.error("is required: one [retention.NAME] table per rule", "retention")
    raw = v.table(raw, "retention", "[retention.NAME]")
    return [_rule(v, name, body) for name, body in raw.items()]


def _rule(v: _Validator, name: str, body: Any) -> RetentionRule:
    key = f"retention.{name}"
    body = v.entry(body, key, "basis, action, ...", _RULE_KEYS, name)
    if "basis" not in body:
        raise v.error("is required: the legal basis for this rule, in words", f"{key}.basis")
    basis = v.text(body["basis"], f"{key}.basis")
    action = v.choice(body.get("action"), ACTIONS, f"{key}.action")
    anchor = body.get("anchor")
    if anchor is not None:
        anchor = v.choice(anchor, ANCHORS, f"{key}.anchor")
    years = v.whole(body.get("years", 0), f"{key}.years", 0, _MAX_YEARS)
    months = v.whole(body.get("months", 0), f"{key}.months", 0, _MAX_MONTHS)
    while_ = body.get("while")
    if while_ is not None:
        while_ = v.choice(while_, WHILE_CONDITIONS, f"{key}.while")
    hold_on = v.texts(body.get("hold_on", []), f"{key}.hold_on")
    for condition in hold_on:
        v.choice(condition, HOLD_CONDITIONS, f"{key}.hold_on")
    period = bool(years or months)
    if action != "retain":
        # a period on an erasing rule would be read as "keep for", which it is not
        for extra in ("anchor", "years", "months", "while"):
            if extra in body:
                raise v.error("only for action = \"retain\"", f"{key}.{extra}")
    elif period and anchor is None:
        raise v.error(f"years/months need an anchor: one of {', '.join(ANCHORS)}",
                      f"{key}.anchor")
    elif anchor is not None and not period:
        raise v.error("an anchor needs a period: years and/or months", f"{key}.years")
    elif not period and while_ is None:
        raise v.error("retain needs a period (years/months after an anchor) or while",
                      f"{key}.action")
    return RetentionRule(name=name, basis=basis, action=action,  # type: ignore[arg-type]
                         anchor=anchor, years=years, months=months, while_=while_,
                         hold_on=hold_on,
                         description=v.text(body.get("description", ""), f"{key}.description",
                                            allow_empty=True))


def _mappings(v: _Validator, raw: Any, groups: Mapping[str, DataGroup],
              retention: Mapping[str, RetentionRule]) -> tuple[MappingEntry, ...]:
    if not isinstance(raw, list):
        raise v.error("must be an array of tables: [[mapping]]", "mapping")
    out: list[MappingEntry] = []
    seen: set[tuple[str, str]] = set()
    for index, body in enumerate(raw):
        key = f"mapping[{index}]"
        body = v.entry(body, key, "system, container, group, rule", _MAPPING_KEYS)
        system = v.text(body.get("system"), f"{key}.system")
        container = v.text(body.get("container"), f"{key}.container")
        pair = (system.lower(), container.lower())
        if pair in seen:
            raise v.error("duplicate system and container", f"{key}.container")
        seen.add(pair)
        group = v.group(body.get("group"), groups, f"{key}.group")
        rule = v.text(body.get("rule"), f"{key}.rule")
        if rule not in retention:
            raise v.error(f"unknown retention rule; defined: {', '.join(sorted(retention))}",
                          f"{key}.rule")
        out.append(MappingEntry(
            system=system, container=container, group=group, rule=rule,
            whole_document=v.flag(body.get("whole_document", False), f"{key}.whole_document"),
            backup=v.choice(body.get("backup", "beyond_use"), BACKUP_MODES,  # type: ignore[arg-type]
                            f"{key}.backup"),
            index=index, dates=_dates(v, body.get("dates", {}), f"{key}.dates"),
            **_keep(v, body.get("keep"), retention, f"{key}.keep")))
    return tuple(out)


def _keep(v: _Validator, raw: Any, retention: Mapping[str, RetentionRule], key: str
          ) -> dict[str, Any]:
    if raw is None:
        return {}
    raw = v.entry(raw, key, 'rule, fields: { rule = "customer_records", fields = ["billsec"] }',
                  _KEEP_KEYS)
    rule = v.text(raw.get("rule"), f"{key}.rule")
    if rule not in retention:
        raise v.error(f"unknown retention rule; defined: {', '.join(sorted(retention))}",
                      f"{key}.rule")
    if retention[rule].action != "retain":
        raise v.error("must name a retain rule: it says why the fields are kept", f"{key}.rule")
    fields = v.texts(raw.get("fields"), f"{key}.fields")
    if not fields:
        raise v.error("must name at least one field", f"{key}.fields")
    return {"keep_fields": tuple(f.lower() for f in fields), "keep_rule": rule}


def _dates(v: _Validator, raw: Any, key: str) -> Mapping[str, str]:
    raw = v.table(raw, key, 'anchor = "field", e.g. { contract_end = "end_date" }')
    for anchor, column in raw.items():
        v.choice(anchor, ANCHORS, f"{key}.{anchor}")
        v.text(column, f"{key}.{anchor}")
    return MappingProxyType({str(a): str(c).strip() for a, c in raw.items()})


def _identity(v: _Validator, raw: Any) -> IdentityCheck:
    raw = v.table(raw, "identity_check", "documents, required")
    v.known(raw, _IDENTITY_KEYS, "identity_check")
    documents: dict[str, int | None] = dict(DEFAULT_DOCUMENTS)
    if "documents" in raw:
        docs_raw = v.table(raw["documents"], "identity_check.documents",
                           "[identity_check.documents.NAME]")
        if not docs_raw:
            raise v.error("must list at least one document", "identity_check.documents")
        documents = {}
        for name, body in docs_raw.items():
            key = f"identity_check.documents.{name}"
            body = v.entry(body, key, "max_age_months (optional)", _DOCUMENT_KEYS, name)
            age = body.get("max_age_months")
            documents[name] = (None if age is None
                               else v.whole(age, f"{key}.max_age_months", 1, 120))
    required = dict(DEFAULT_REQUIRED)
    req_raw = v.table(raw.get("required", {}), "identity_check.required",
                      "request type = number of documents")
    v.known(req_raw, set(REQUEST_TYPES), "identity_check.required")
    for request_type, count in req_raw.items():
        required[request_type] = v.whole(count, f"identity_check.required.{request_type}",
                                         0, len(documents))
    for request_type, count in required.items():
        if count > len(documents):
            raise v.error(f"needs {count} documents but only {len(documents)} are accepted",
                          f"identity_check.required.{request_type}")
    ask = v.flag(raw.get("ask_on_receipt", False), "identity_check.ask_on_receipt")
    chase = v.whole(raw.get("chase_after_days", 14), "identity_check.chase_after_days", 1, 365)
    return IdentityCheck(documents=MappingProxyType(documents),
                         required=MappingProxyType(required), ask_on_receipt=ask,
                         chase_after_days=chase)
