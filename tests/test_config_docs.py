"""docs/configuration.md and docs/policy.md name every key the code accepts.

The key sets are the ones the loaders validate against (an unknown key is an error there),
so a key added to the code without a line in the reference fails here. Each key must
appear in a code span inside its own section, not merely somewhere in the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent import policy
from agent.config import AGENT_KEYS, DISCOVERY_KEYS, SYSTEM_KEYS
from connectors.sql import options as sql_options

DOCS = Path(__file__).resolve().parents[1] / "docs"


def section(doc: str, heading: str) -> str:
    """The text under ``heading`` (a ``#``-prefixed line) up to the next heading of the same
    or a higher level."""
    text = (DOCS / doc).read_text(encoding="utf-8")
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    assert heading in lines, f"{doc} has no heading {heading!r}"
    out: list[str] = []
    for line in lines[lines.index(heading) + 1:]:
        match = re.match(r"(#+) ", line)
        if match and len(match.group(1)) <= level:
            break
        out.append(line)
    return "\n".join(out)


def missing(keys: object, text: str) -> list[str]:
    """Keys not named in a code span, alone (`` `key` ``) or as a whole component of a
    dotted table name (`` `[identity_check.documents.NAME]` ``)."""
    def named(key: str) -> bool:
        return re.search(rf"`(?:[^`\n]*[.\[])?{re.escape(key)}(?:[.\]][^`\n]*)?`",
                         text) is not None
    return sorted(k for k in keys if not named(k))  # type: ignore[attr-defined]


CONFIG_SECTIONS = [
    ("## `[agent]`", AGENT_KEYS),
    ("## `[discovery]`", DISCOVERY_KEYS),
    ("## `[[systems]]`", SYSTEM_KEYS),
    ("### SQL connector (`connector = \"sql\"`)", sql_options._SYSTEM_OPTIONS),
    ("### SQL connector (`connector = \"sql\"`)", sql_options._TABLE_OPTIONS),
]


@pytest.mark.parametrize(("heading", "keys"), CONFIG_SECTIONS,
                         ids=["agent", "discovery", "systems", "sql", "sql-tables"])
def test_configuration_reference_names_every_key(heading: str, keys: object) -> None:
    assert missing(keys, section("configuration.md", heading)) == []


def test_configuration_reference_names_every_top_level_table() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    for table in ("[agent]", "[discovery]", "[[systems]]", "[policy]"):
        assert f"`{table}`" in text, table


def test_policy_reference_has_a_section_per_top_level_key() -> None:
    headings = [line for line in (DOCS / "policy.md").read_text(encoding="utf-8").splitlines()
                if line.startswith("## ")]
    for key in sorted(policy._TOP_KEYS):
        assert any(re.search(rf"`\[*{key}[\].]", h) or f"`{key}`" in h for h in headings), \
            f"docs/policy.md has no '## ' section for {key!r}"


POLICY_SECTIONS = [
    ("## `controller`", policy.CONTROLLER_FACTS),
    ("## `[groups.NAME]`", policy._GROUP_KEYS),
    ("## `[recipients.NAME]`", policy._RECIPIENT_KEYS),
    ("## `[retention.NAME]`", policy._RULE_KEYS),
    ("## `[[mapping]]`", policy._MAPPING_KEYS | {"keep"}),
    ("## `[identity_check]`", policy._IDENTITY_KEYS | policy._DOCUMENT_KEYS
     | set(policy.REQUEST_TYPES)),
]


@pytest.mark.parametrize(("heading", "keys"), POLICY_SECTIONS,
                         ids=["controller", "groups", "recipients", "retention", "mapping",
                              "identity_check"])
def test_policy_reference_names_every_key(heading: str, keys: object) -> None:
    assert missing(keys, section("policy.md", heading)) == []


def test_policy_keep_table_keys_are_named() -> None:
    mapping = section("policy.md", "## `[[mapping]]`")
    keep = next(line for line in mapping.splitlines() if line.startswith("| `keep`"))
    for key in sorted(policy._KEEP_KEYS):
        assert f"{key} =" in keep, key


def _other_connectors() -> list[tuple[str, str, object]]:
    from connectors.files import options as files_options
    from connectors.files.transports import TRANSPORT_KEYS
    from connectors.recordings import options as recordings_options
    from connectors.s3 import options as s3_options

    return [("files.md", "## Options", files_options._OPTIONS),
            ("configuration.md", "### files connector: transports", TRANSPORT_KEYS),
            ("s3.md", "## Options", s3_options.OPTIONS),
            ("recordings.md", "## Options", recordings_options.OPTIONS)]


@pytest.mark.parametrize(("doc", "heading", "keys"), _other_connectors(),
                         ids=["files", "files-transports", "s3", "recordings"])
def test_the_other_connectors_options_are_documented(doc: str, heading: str,
                                                     keys: object) -> None:
    assert missing(keys, section(doc, heading)) == []
