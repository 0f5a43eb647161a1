"""The Connector base class: what every system plugin implements.

A connector is registered as a class (``register(MyConnector)``) and instantiated once per
configured system. Declare what it can do in ``capabilities``; every capability must have
its method overridden (checked when the plugin is registered).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from agent.errors import NotSupported

if TYPE_CHECKING:
    from agent.config import SystemConfig
    from agent.detectors import Detector
    from agent.extractors import Extractor
    from agent.models import Finding, Subject
    from agent.plans import ManualTask, Outcome, PlanItem
    from agent.sampling import Sample, SampleOptions

# capability name -> method that must be overridden to claim it
CAPABILITY_METHODS: dict[str, str] = {
    "check": "check",
    "discover": "discover",
    "sample": "sample",
    "search": "search",
    "read": "read",
    "erase": "erase",
    "suppress": "suppress",
    "restrict": "restrict",
    "rectify": "rectify",
}


@dataclass
class CheckResult:
    ok: bool
    detail: str = ""
    seconds: float = 0.0


@dataclass
class Container:
    """One place discovery inventories: a table, a folder, a prefix."""

    name: str
    kind: str
    items: int | None = None
    fields: list[str] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConnectorContext:
    """What the core hands a connector: the detectors, extractors and shared settings."""

    detectors: Sequence[Detector] = ()
    # registered text extractors (classes, in registration order), for file-like stores
    extractors: Sequence[type[Extractor]] = ()
    # other systems' names, for declared or inferred cross-system references
    system_names: Sequence[str] = ()
    options: dict[str, Any] = field(default_factory=dict)


class Connector:
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    url_schemes: ClassVar[tuple[str, ...]] = ()
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, system: SystemConfig, context: ConnectorContext | None = None) -> None:
        self.system = system
        self.context = context or ConnectorContext()

    # ------------------------------------------------------------------ registration
    @classmethod
    def validate_registration(cls) -> str | None:
        """A problem with the class as a plugin, or None."""
        unknown = set(cls.capabilities) - set(CAPABILITY_METHODS)
        if unknown:
            return f"declares unknown capabilities {sorted(unknown)}"
        for capability in sorted(cls.capabilities):
            method = CAPABILITY_METHODS[capability]
            if getattr(cls, method) is getattr(Connector, method):
                return f"declares capability {capability!r} but does not implement {method}()"
        return None

    def _unsupported(self, what: str) -> NotSupported:
        return NotSupported(f"connector {self.name!r} (system {self.system.name!r}) "
                            f"does not support {what}")

    # ------------------------------------------------------------------ the work
    def check(self) -> CheckResult:
        """Reach the system and read something cheap; never raises for an unreachable one."""
        raise self._unsupported("check")

    def discover(self) -> Iterator[Container]:
        """Inventory the containers personal data may sit in (for sweeps)."""
        raise self._unsupported("discover")

    def sample(self, container: Container, options: SampleOptions) -> Iterator[Sample]:
        """Samples of one container ``discover()`` listed, unit by unit, for a sweep's data
        map (see ``agent.sampling``): a bounded read, never the whole container. Ask
        ``options.unchanged(unit, fingerprint)`` before reading a unit and yield it
        ``unchanged`` when that says so; a unit that cannot be read is yielded with
        ``error`` (the sweep goes on)."""
        raise self._unsupported("sampling for discovery")

    def search(self, subjects: Sequence[Subject]) -> Iterable[Finding]:
        """Findings for every subject, in one pass over the system where possible.

        Each finding carries ``subject`` (the subject's ref), the identifier ids it matched
        (``internal_matched_ids``) and the identity values on the record
        (``internal_values``); the engine decides strength and expansion.
        """
        raise self._unsupported("search")

    def fetch(self, finding: Finding, max_bytes: int) -> bytes:
        """The bytes of a document ``read()`` only listed (it also holds other people's
        data), once a person decided in disclosure review to disclose it with consent.
        Optional: systems that cannot answer raise NotSupported (the export then says the
        document must be sent by hand). ConnectorError when it is gone or too large."""
        raise self._unsupported("fetching a document for disclosure")

    def search_notes(self) -> dict[str, Any]:
        """Counts about the last ``search()`` worth showing beside the system's status
        (``dsr search --json``: ``systems[].<key>``), e.g. records naming audio that is not
        there; never identifier values or paths. Default: none."""
        return {}

    def read(self, findings: Sequence[Finding]) -> Iterator[dict[str, Any]]:
        """The content of each finding, for access and portability exports."""
        raise self._unsupported("read")

    # ------------------------------------------------------------------ actions
    # Contract for erase/suppress/restrict/rectify: all items of one call succeed or none
    # do (one transaction where the store allows; raise ConnectorError and change nothing
    # otherwise); idempotent (an item already gone or already marked yields ``absent``);
    # one Outcome per item, yielded once the change is durable.

    def actions_for(self, finding: Finding) -> frozenset[str]:
        """Plan actions this system can carry out on ``finding`` (the planner turns any
        other action the policy asks for into a ``manual`` item)."""
        out: set[str] = set()
        if "erase" in self.capabilities:
            out |= {"delete", "anonymise"}
        for capability in ("suppress", "restrict", "rectify"):
            if capability in self.capabilities:
                out.add(capability)
        if "read" in self.capabilities:
            out.add("export")
        return frozenset(out)

    def kept_until(self, finding: Finding) -> str | None:
        """For a finding this system can only keep ``beyond_use`` (a locked or backup
        copy): the ISO date it stops being kept, when the store says (an object's lock);
        None when unknown or open-ended (a legal hold)."""
        return None

    def kept_references(self, plan_items: Sequence[PlanItem]) -> dict[str, str]:
        """Of these ``delete`` items, those whose record is still referred to by records
        that stay (item id -> what refers to it): deleting them would break the reference,
        so the planner anonymises them instead. Stores without references answer {}."""
        return {}

    def erase(self, plan_items: Sequence[PlanItem]) -> Iterator[Outcome]:
        """Delete or anonymise (``item.action``) each item's record; children first."""
        raise self._unsupported("erase")

    def suppress(self, plan_items: Sequence[PlanItem]) -> Iterator[Outcome]:
        """Mark each item's record do-not-contact."""
        raise self._unsupported("suppress")

    def restrict(self, plan_items: Sequence[PlanItem]) -> Iterator[Outcome]:
        """Mark each item's record restricted (kept, not used)."""
        raise self._unsupported("restrict")

    def rectify(self, plan_items: Sequence[PlanItem], changes: dict[str, str]
                ) -> Iterator[Outcome]:
        """Set ``changes`` (field -> new value) on each item's record and read it back."""
        raise self._unsupported("rectify")

    def manual_tasks(self, request_type: str) -> Sequence[ManualTask]:
        """Places a person must handle by hand for a request of this type (the built-in
        ``manual`` connector declares them; automated connectors have none)."""
        return ()

    def close(self) -> None:
        """Release connections; called once when the engine is done with the system."""
