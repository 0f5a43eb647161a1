"""The conformance suite: one test method per promise a connector makes.

A connector author writes, in a test module::

    from agent.testing import ConnectorConformance as TestConformance

and a function-scoped ``dsr_seed`` fixture returning a freshly seeded ``agent.testing.Seed``.
The pytest plugin (``agent.testing.plugin``, loaded through the ``pytest11`` entry point)
supplies the rest. A check whose capability is not declared passes with its reason listed
in the terminal summary; a declared one always runs.
"""

from __future__ import annotations

import json

from agent.connector import CAPABILITY_METHODS, CheckResult, Container
from agent.errors import IdentifierError, NotSupported
from agent.identifiers import resolve_type
from agent.models import Finding
from agent.plans import ACTIONS, CONNECTOR_ACTIONS, Outcome, PlanItem
from agent.sampling import Sample, SampleOptions
from agent.testing.logs import LogCapture
from agent.testing.run import ConformanceRun, fail, require_done, require_no_change
from agent.testing.seed import value_forms


class ConnectorConformance:
    """What every connector must do; rename on import to ``Test...`` so pytest collects it."""

    # ------------------------------------------------------------------ reach and find
    def test_check(self, dsr_kit: ConformanceRun) -> None:
        if not dsr_kit.declares("check"):
            dsr_kit.not_applicable("'check' is not declared")
            return
        result = dsr_kit.connector.check()
        if not isinstance(result, CheckResult):
            fail(f"check() must return agent.connector.CheckResult, got "
                 f"{type(result).__name__}")
        if not result.ok:
            fail(f"check() is not ok on the seeded system: {result.detail}")

    def test_search_finds_subject_not_lookalike(self, dsr_kit: ConformanceRun) -> None:
        found = dsr_kit.found("subject")
        if not any(f.strength == "strong" for f in found):
            fail(f"search found no strong finding for the seeded subject ({len(found)} weak); "
                 "seed the subject's record with a unique identifier (e-mail, phone)")
        lookalike = {f.id for f in dsr_kit.strong("lookalike")}
        if not lookalike:
            fail("searching for the look-alike by its own identifiers found no strong "
                 "finding: seed the look-alike with an identifier of its own")
        overlap = sorted(lookalike & {f.id for f in found})
        if overlap:
            fail(f"the subject's search returned the look-alike's records: {overlap}")

    def test_read_returns_each_strong_finding(self, dsr_kit: ConformanceRun) -> None:
        if not dsr_kit.declares("read"):
            dsr_kit.not_applicable("'read' is not declared")
            return
        strong = _strong_or_fail(dsr_kit)
        content = dsr_kit.read(strong)
        asked = {f.id for f in strong}
        returned = {finding for finding, _ in content}
        if asked - returned:
            fail(f"read() returned nothing for strong findings {sorted(asked - returned)}")
        if returned - asked:
            fail(f"read() returned content for findings it was not asked about: "
                 f"{sorted(returned - asked)}")
        empty = sorted({i for i, text in content if not _has_content(text)})
        if empty:
            fail(f"read() returned only the finding id, no content, for {empty}")

    def test_planning_changes_nothing(self, dsr_kit: ConformanceRun) -> None:
        before = dsr_kit.state("subject"), dsr_kit.state("lookalike")
        for finding in dsr_kit.found("subject"):
            actions = dsr_kit.connector.actions_for(finding)
            unknown = sorted(set(actions) - set(ACTIONS))
            if unknown:
                fail(f"actions_for({finding.id}) offers unknown plan actions {unknown}")
            for action in sorted(actions):
                dsr_kit.items([finding], action)
        after = dsr_kit.state("subject"), dsr_kit.state("lookalike")
        changed = [f"{who}: {d}" for who, old, new in zip(("subject", "look-alike"), before,
                                                           after, strict=True)
                   for d in old.differences(new)]
        if changed:
            fail(f"searching, reading and planning changed the system: {changed}")

    def test_sample_finds_the_subject_and_honours_unchanged(self, dsr_kit: ConformanceRun
                                                            ) -> None:
        if not dsr_kit.declares("sample"):
            dsr_kit.not_applicable("'sample' is not declared")
            return
        before = dsr_kit.state("subject"), dsr_kit.state("lookalike")
        samples = _samples(dsr_kit)
        if not samples:
            fail("sample() yielded no unit for any container discover() listed")
        bad = sorted({s.unit for s in samples if not s.fingerprint or s.unchanged})
        if bad:
            fail(f"sample() units need a fingerprint and must not be unchanged when "
                 f"options.unchanged() says no: {bad}")
        seen = "\n".join(_sampled_text(s) for s in samples).casefold()
        forms = [f.casefold() for i in dsr_kit.person("subject").identifiers
                 if i.type != "name" for f in value_forms(i.type, i.value)]
        if not any(form in seen for form in forms):
            fail("no identifier of the seeded subject is in what sample() read: a sweep "
                 "would not see where the subject's data sits")
        again = _samples(dsr_kit, unchanged=True)
        read = sorted({s.unit for s in again if not s.unchanged and not s.error})
        if read:
            fail(f"sample() read units options.unchanged() said were unchanged: {read}")
        after = dsr_kit.state("subject"), dsr_kit.state("lookalike")
        changed = [d for old, new in zip(before, after, strict=True)
                   for d in old.differences(new)]
        if changed:
            fail(f"sampling changed the system: {changed}")

    # ------------------------------------------------------------------ erasure
    def test_erase_removes_subject_only(self, dsr_kit: ConformanceRun) -> None:
        if not dsr_kit.declares("erase"):
            dsr_kit.not_applicable("'erase' is not declared")
            return
        lookalike = dsr_kit.state("lookalike")
        _erase(dsr_kit)
        left = sorted(f.id for f in dsr_kit.strong("subject"))
        if left:
            fail(f"after erase ({dsr_kit.seed.erase_action}) a search still finds the "
                 f"subject strongly: {left}")
        changed = lookalike.differences(dsr_kit.state("lookalike"))
        if changed:
            fail(f"erasing the subject changed the look-alike: {changed}")

    def test_erase_again_changes_nothing(self, dsr_kit: ConformanceRun) -> None:
        if not dsr_kit.declares("erase"):
            dsr_kit.not_applicable("'erase' is not declared")
            return
        items, first = _erase(dsr_kit)
        before = dsr_kit.state("subject"), dsr_kit.state("lookalike")
        require_no_change("erase", dsr_kit.act("erase", items), first)
        after = dsr_kit.state("subject"), dsr_kit.state("lookalike")
        changed = [d for old, new in zip(before, after, strict=True)
                   for d in old.differences(new)]
        if changed:
            fail(f"a second erase of the same items changed the system: {changed}")

    # ------------------------------------------------------------------ marks
    def test_suppress(self, dsr_kit: ConformanceRun) -> None:
        _mark(dsr_kit, "suppress")

    def test_restrict(self, dsr_kit: ConformanceRun) -> None:
        _mark(dsr_kit, "restrict")

    def test_rectify(self, dsr_kit: ConformanceRun) -> None:
        if not dsr_kit.declares("rectify"):
            dsr_kit.not_applicable("'rectify' is not declared")
            return
        changes = dict(dsr_kit.seed.rectify or {})
        if not changes:
            fail("the connector declares 'rectify': give Seed(rectify={TYPE: new value}), "
                 "e.g. {'email': 'new.address@example.com'}")
        kinds = _rectify_kinds(changes)
        holders = [f for f in _strong_or_fail(dsr_kit) if kinds <= set(f.internal_values)]
        items = dsr_kit.items(holders, "rectify", fields=sorted(changes))
        if not items:
            fail(f"no strong finding of the subject holds {sorted(kinds)} with 'rectify' "
                 "allowed by actions_for()")
        lookalike = dsr_kit.state("lookalike")
        require_done("rectify", dsr_kit.act("rectify", items, changes))
        rectified = {f.id for f in dsr_kit.found("rectified")}
        missing = sorted({i.id for i in items} - rectified)
        if missing:
            fail(f"a search by the new value(s) does not find the rectified records {missing}")
        if dsr_kit.declares("read"):
            _read_back(dsr_kit, [f for f in holders if f.id in {i.id for i in items}], changes)
        changed = lookalike.differences(dsr_kit.state("lookalike"))
        if changed:
            fail(f"rectifying the subject changed the look-alike: {changed}")

    # ------------------------------------------------------------------ hygiene
    def test_no_identifier_values_in_logs(self, dsr_kit: ConformanceRun,
                                          dsr_logs: LogCapture) -> None:
        # dsr_kit first: the author's seeding runs before the capture starts
        _exercise(dsr_kit)
        leaks = dsr_logs.leaks(dsr_kit.protected_values())
        if leaks:
            fail("identifier values reached the logs or the console (values not shown): "
                 + "; ".join(leak.describe() for leak in leaks))

    def test_capabilities_match_behaviour(self, dsr_kit: ConformanceRun) -> None:
        connector = dsr_kit.connector
        strong = dsr_kit.strong("subject") if dsr_kit.declares("search") else []
        problems = [f"actions_for({f.id}) offers {action!r} but "
                    f"'{CONNECTOR_ACTIONS[action]}' is not declared"
                    for f in strong for action in sorted(connector.actions_for(f))
                    if CONNECTOR_ACTIONS.get(action, "") in CAPABILITY_METHODS
                    and CONNECTOR_ACTIONS[action] not in connector.capabilities]
        for capability in _CALL_ORDER:
            declared = capability in connector.capabilities
            try:
                _call(dsr_kit, capability, strong if declared else [])
            except NotSupported:
                if declared:
                    problems.append(f"declares {capability!r} but {capability}() raises "
                                    "NotSupported")
                continue
            except Exception as exc:
                if not declared:
                    problems.append(f"{capability}() is not declared: it must raise "
                                    f"NotSupported, not {type(exc).__name__}")
                continue
            if not declared:
                problems.append(f"{capability}() works but {capability!r} is not declared "
                                "in capabilities")
        if problems:
            fail("declared capabilities do not match behaviour: " + "; ".join(problems))


# ---------------------------------------------------------------------- helpers

# Every capability, erase last: it removes what the others act on.
_CALL_ORDER = (*(c for c in CAPABILITY_METHODS if c != "erase"), "erase")


def _strong_or_fail(kit: ConformanceRun) -> list[Finding]:
    strong = kit.strong("subject")
    if not strong:
        fail("search found no strong finding for the seeded subject (see "
             "test_search_finds_subject_not_lookalike)")
    return strong


def _has_content(text: str) -> bool:
    item = json.loads(text)
    return any(v not in (None, "", [], {}) for k, v in item.items() if k != "finding")


def _erase(kit: ConformanceRun) -> tuple[list[PlanItem], list[Outcome]]:
    action = kit.seed.erase_action
    strong = _strong_or_fail(kit)
    items = kit.items(strong, action)
    if not items:
        fail(f"the connector declares 'erase' but actions_for() allows {action!r} on none of "
             f"the subject's {len(strong)} strong findings")
    outcomes = kit.act("erase", items)
    require_done("erase", outcomes)
    return items, outcomes


def _mark(kit: ConformanceRun, capability: str) -> None:
    """suppress / restrict: the records stay found, the mark is durable (a repeat reports
    them already marked), the look-alike is untouched."""
    if not kit.declares(capability):
        kit.not_applicable(f"{capability!r} is not declared")
        return
    items = kit.items(_strong_or_fail(kit), capability)
    if not items:
        fail(f"the connector declares {capability!r} but actions_for() allows it on none of "
             "the subject's strong findings")
    lookalike = kit.state("lookalike")
    first = kit.act(capability, items)
    require_done(capability, first)
    still = {f.id for f in kit.strong("subject")}
    gone = sorted({i.id for i in items} - still)
    if gone:
        fail(f"{capability}() must mark records, not remove them; no longer found: {gone}")
    require_no_change(capability, kit.act(capability, items), first)
    changed = lookalike.differences(kit.state("lookalike"))
    if changed:
        fail(f"{capability}() on the subject changed the look-alike: {changed}")


def _rectify_kinds(changes: dict[str, str]) -> set[str]:
    try:
        return {resolve_type(kind).name for kind in changes}
    except IdentifierError as exc:
        fail(f"Seed.rectify keys must be identifier types (so a search can find the new "
             f"value): {exc}")


def _read_back(kit: ConformanceRun, findings: list[Finding], changes: dict[str, str]) -> None:
    content = kit.read(findings)
    for kind, value in changes.items():
        forms = [f.casefold() for f in value_forms(kind, value)]
        stale = sorted({i for i, text in content
                        if not any(form in text.casefold() for form in forms)})
        if stale:
            fail(f"read() after rectify does not show the new {kind} for {stale}")


def _samples(kit: ConformanceRun, *, unchanged: bool = False) -> list[Sample]:
    options = SampleOptions(values_per_column=1_000, text_bytes=64 * 1024,
                            unchanged=lambda _unit, _fingerprint: unchanged)
    return [sample for container in kit.connector.discover()
            for sample in kit.connector.sample(container, options)]


def _sampled_text(sample: Sample) -> str:
    return "\n".join(f.text if f.text is not None else "\n".join(map(str, f.values))
                     for f in sample.fields)


def _call(kit: ConformanceRun, capability: str, strong: list[Finding]) -> None:
    """Call one capability's method; declared ones get the subject's strong findings."""
    connector = kit.connector
    if capability == "check":
        connector.check()
    elif capability == "discover":
        list(connector.discover())
    elif capability == "sample":
        containers = list(connector.discover()) if kit.declares("discover") else []
        for container in containers or [Container(name="", kind="")]:
            list(connector.sample(container, SampleOptions(values_per_column=100,
                                                           text_bytes=4096)))
    elif capability == "search":
        list(connector.search([kit.person("subject")]))
    elif capability == "read":
        list(connector.read(strong))
    elif capability == "rectify":
        changes = dict(kit.seed.rectify or {}) if strong else {}
        list(connector.rectify(kit.items(strong, "rectify", sorted(changes)) if changes
                               else [], changes))
    else:
        action = kit.seed.erase_action if capability == "erase" else capability
        list(getattr(connector, capability)(kit.items(strong, action)))


def _exercise(kit: ConformanceRun) -> None:
    """Everything the other checks do, in one go, carrying on past any failure: this check
    is about what reaches the logs, the others about what went wrong."""
    kit.search("lookalike")
    strong = kit.strong("subject")
    for finding in strong:
        kit.connector.actions_for(finding)
    steps = [capability for capability in ("check", "sample", "read", "suppress",
                                           "restrict", "rectify", "erase", "erase")
             if kit.declares(capability)]
    for capability in steps:
        try:
            _call(kit, capability, strong)
        except Exception:  # a failure here is another check's to report
            continue
    kit.search("subject")
    if kit.seed.rectify:
        kit.search("rectified")
