"""Whether a document is about the subject alone, so ``read()`` may hand it over whole.

A document is the subject's alone when the search matched it for one person by a unique
identifier and every e-mail address and phone number in its text is that person's. Names are
not judged (a greeting or a signature would look like a second person, and a third party
named without contact details would not): such a document still passes, so the export marks
it ``whole_document`` for the disclosure review to see. Anything larger than ``MAX_BYTES`` is
listed for review instead of copied.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from agent.identifiers import TYPES, phone_e164
from agent.models import Subject

MAX_BYTES = 16 << 20
_EMAIL = re.compile(r"[A-Za-z0-9._%+'\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
# written as phones are: from 0 or + (an invoice or order number is not a phone)
_PHONE = re.compile(r"(?:\+\d|\b0)[\d\s().\-/]{7,}\d")


def others_named(texts: Iterable[str], subject: Subject) -> bool:
    """True as soon as a text holds an e-mail address or phone number not the subject's."""
    emails = {i.value for i in subject.identifiers if i.type == "email"}
    phones = {i.value for i in subject.identifiers if i.type == "phone"}
    for text in texts:
        for match in _EMAIL.finditer(text):
            if match.group(0).lower().strip(".") not in emails:
                return True
        for match in _PHONE.finditer(text):
            e164 = phone_e164(match.group(0))
            if e164 is not None and e164 not in phones:
                return True
    return False


def strongly_matched(subject: Subject, ids: Iterable[str]) -> bool:
    matched = set(ids)
    return any(i.id in matched and TYPES[i.type].strong for i in subject.identifiers)
