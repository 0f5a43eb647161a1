"""When a document counts as about the subject alone (read() then hands it over whole)."""

from __future__ import annotations

from agent.subjects import subject_from_mapping
from connectors.files.alone import others_named, strongly_matched

JANE = subject_from_mapping({"email": ["jane.doe@example.com"], "phone": ["07700 900123"],
                             "name": "Jane Doe"}, default_ref="S0")


def test_her_own_details_in_any_writing_are_hers() -> None:
    assert not others_named(["Dear Jane Doe, we wrote to JANE.DOE@example.com.",
                             "Call back on +44 (0)7700 900-123 or 07700900123."], JANE)


def test_anyone_elses_e_mail_or_phone_sends_it_to_review() -> None:
    assert others_named(["cc: bob.smith@example.com"], JANE)
    assert others_named(["Her husband's mobile: 07700 900456"], JANE)
    assert others_named(["page 1 is hers: jane.doe@example.com", "page 2: 01632 960444"], JANE)


def test_numbers_that_are_not_phones_do_not_count() -> None:
    assert not others_named(["Invoice 2024-000123, total 1,234.56, order 12345678"], JANE)


def test_only_a_unique_identifier_makes_a_document_hers() -> None:
    ids = {i.id: i.type for i in JANE.identifiers}
    name_only = [i for i, kind in ids.items() if kind == "name"]
    email = [i for i, kind in ids.items() if kind == "email"]
    assert not strongly_matched(JANE, name_only)
    assert strongly_matched(JANE, email)
