"""The person-name lexicon and finder (agent/names.py): the shipped lists, spans in running
text, look-alikes that are not people, and precision and recall on a labelled set."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest

from agent.names import (
    NameSpan,
    find_person_names,
    is_given_name,
    is_surname,
    lexicon,
    name_key,
)


def found(text: str) -> list[str]:
    return [text[s.start:s.end] for s in find_person_names(text)]


# ------------------------------------------------------------------ the lists

def test_lists_ship_with_the_package_and_load_once() -> None:
    folder = files("agent").joinpath("data", "names")
    for name in ("given.txt", "surnames.txt", "given_ambiguous.txt"):
        text = folder.joinpath(name).read_text(encoding="ascii")
        assert "public domain" in text.splitlines()[1]  # the source is named in the header
        words = [w for w in text.splitlines() if not w.startswith("#")]
        assert words == sorted(words) and all(re.fullmatch(r"[a-z]+", w) for w in words)
    lex = lexicon()
    assert lexicon() is lex  # cached: read once per process
    assert 5_000 <= len(lex.given) <= 10_000 and 20_000 <= len(lex.surnames) <= 40_000
    assert lex.ambiguous <= lex.given
    assert {"will", "may", "mark", "rose", "bill", "grant"} <= lex.ambiguous
    assert not {"in", "my", "so", "see", "miss"} & lex.given  # census noise dropped


def test_given_and_surname_lookups() -> None:
    assert is_given_name("Jane") and is_given_name("JANE") and is_given_name("mary-jane")
    assert is_given_name("Will")  # listed; only its matching in text needs context
    assert is_given_name("Niamh") and is_given_name("Rhys")  # the UK additions
    assert not is_given_name("Invoice") and not is_given_name("")
    assert is_surname("Smith") and is_surname("O'Brien") and is_surname("O\u2019Brien")
    assert is_surname("Smith-Zqx") and is_surname("Davies") and is_surname("Patel")
    assert not is_surname("Zqxwv")
    assert name_key("O'Brien's") == "obrien" and name_key("J.") == "j"


# ------------------------------------------------------------------ spans

def test_title_forms() -> None:
    text = "Mr Smith rang. Then Mrs J. Smith wrote, and Dr. Jane Okafor replied to Ms O'Neill."
    assert found(text) == ["Smith", "J. Smith", "Jane Okafor", "O'Neill"]
    [first, *_] = find_person_names(text)
    assert first == NameSpan(3, 8) and text[first.start:first.end] == "Smith"


def test_given_and_surname_forms() -> None:
    assert found("Spoke to her husband John Smith about it.") == ["John Smith"]
    assert found("Jane Smith-Jones and Sean O'Brien attended.") == [
        "Jane Smith-Jones", "Sean O'Brien"]
    assert found("Jane A. Smith signed; so did J. Patel.") == ["Jane A. Smith", "J. Patel"]
    assert found("Maya Okafor asked.") == ["Maya Okafor"]  # unlisted surname
    assert found("Paul Smith's van") == ["Paul Smith"]  # possessive left out
    assert found("JANE SMITH called") == ["JANE SMITH"]  # capitals: both listed


def test_surname_comma_given_and_display_names() -> None:
    assert found("Attendees: Smith, Jane; Jones, Bob") == ["Smith, Jane", "Jones, Bob"]
    assert found("From: Jane Smith <jane.smith@example.com>") == ["Jane Smith"]
    assert found('cc "Okafor Zqx" <x@example.com>') == ["Okafor Zqx"]


@pytest.mark.parametrize("text", [
    "May 2024 invoice attached.",
    "Invoice due 3 May; paid in June.",
    "Grant Thornton Ltd audit the accounts.",
    "Will you call back tomorrow?",
    "Mark the account as closed.",
    "Bill Payments are due monthly.",
    "Rose Gardens, Leeds LS6 2QT",
    "Delivered to Victoria Station and 12 Milton Road.",
    "Order from Smith & Sons, Jones and Co, and John Lewis.",
    "Moved to Jersey in March; office in London.",
    "Samsung Galaxy S24 and Apple iPhone 15 handsets.",
    "Hope Street depot, Chester Le Street.",
    "In May, June and July the rate was lower.",
    "dear jane smith, thanks",  # lower case is not looked for
    "Dear Jane, thanks for your call.",  # one given name alone is not a name
    "MAY SMITH ACCOUNT",  # capitals: the given name is a word
    "Okafor Plumbing <info@example.com>",
    "Milton Keynes and Harley Davidson",
    "Contact: maya.okafor@example.com, Maya.Okafor@example.com",
])
def test_look_alikes_are_not_people(text: str) -> None:
    assert found(text) == []


def test_bad_input_is_harmless() -> None:
    assert find_person_names("") == []
    assert find_person_names("\x00\n\t  ") == []
    assert found("A" * 10_000) == []
    assert found("Smith, ") == [] and found(", Jane") == [] and found("Mr") == []
    assert found("Mr.") == [] and found("J.") == [] and found("Jane-") == []


# ------------------------------------------------------------------ labelled set

# Made-up notes as an agent types them; [brackets] mark the names a reader would redact.
LABELLED = [
    "Spoke to her husband [John Smith] about the overdue balance.",
    "Customer asked that [Daniel Whitcombe] be added as an authorised contact.",
    "Referral from existing customer [Maya Okafor]; apply the credit to both accounts.",
    "Mr [Patel] called to query the June invoice.",
    "Mrs [J. Pritchard] confirmed the direct debit details by phone.",
    "Dr [Hannah Quigley] requested a copy of the contract.",
    "Please send the quote to [Sarah Jenkins] in accounts.",
    "The bookkeeper, [Tom Asante], will chase the payment on Friday.",
    "Engineer [Gareth Evans] attended and cleared the fault.",
    "Left a voicemail for [Niamh O'Connor] about the renewal.",
    "[Priya Sharma] from the office rang back at 3pm.",
    "Invoice copies to go to [Smith, Jane] and [Jones, Robert].",
    "From: [Rachel Green] <rachel.green@example.com>",
    "Authorised by Sir [Alan Baker]? No: by Ms [Baker] herself.",
    "Her son [James Whitcombe-Reid] is the named user on the handset.",
    "Complaint passed to [Kwame Mensah] in the retentions team.",
    "Spoke to [Will Turner] about the porting request.",
    "Our auditors are Grant Thornton Ltd; the partner is [Grant Taylor].",
    "Rose Gardens is the delivery address; signed for by [Rose Baptiste].",
    "May 2024: price rise letter sent to [Mark Lindqvist].",
    "Will you call [Callum Fraser] back before Friday?",
    "Mark the account closed once [Ewan McDonald] confirms.",
    "Bill Payments team to refund [Emily Clarke].",
    "Ticket raised by [Lucy Holland] at the Leeds branch.",
    "Handset dispatched to [Oliver Bennett] at the depot.",
    "Call from Mr [Ahmed]'s daughter about the bill.",
    "[Zoë Martin] asked for her data to be deleted.",
    "Hannah's manager, [Peter O'Brien], approved the upgrade.",
    "Victoria Station branch closed; staff moved to Milton Keynes.",
    "Order placed with Smith & Sons and Harley Davidson dealers.",
    "Contract signed at Jersey office in March.",
    "Samsung Galaxy handsets for the fleet, 12 in total.",
    "Will the engineer visit on Tuesday?",
    "Grant Thornton LLP sent the audit letter.",
    "Payment promised next week; no further action.",
    "Customer happy with the resolution; closed on the call.",
    "Porting request: number to move onto this account.",
    "Dear Sir, please find enclosed the revised quote.",
    "Kind regards, Customer Services",
    "Hope Street depot, Chester Le Street, closes early.",
    "Spoke to [Jane Smith] and [Ahmed Khan] at the same address.",
    "Renewal quote for [Isla Campbell]: 24 months, unlimited data.",
    "The caller gave her name as [Aoife Byrne] and her date of birth.",
    "cc: [Tom Baker] <tom.baker@example.co.uk>; [Sue Ellis]",
    "Account holder [Margaret Thompson] is deceased; her son [Robert] called.",
    "Credit check by Equifax for [Daniel Lee].",
    "Porting from Vodafone, agent [Sophie] handled it.",
    "[jack brown] emailed in lower case about his bill.",
    "Wrote to Mr and Mrs [Hughes] about the arrears.",
    "Sent to [Harriet Walsh], [Fiona Doyle] and [Aled Jones].",
]
_MARK = re.compile(r"\[([^\]]+)\]")


def _labelled(line: str) -> tuple[str, set[tuple[int, int]]]:
    text, spans, at = "", set(), 0
    for match in _MARK.finditer(line):
        text += line[at:match.start()]
        spans.add((len(text), len(text) + len(match.group(1))))
        text += match.group(1)
        at = match.end()
    return text + line[at:], spans


def score() -> tuple[float, float, int, int, int]:
    right = got = expected = 0
    for line in LABELLED:
        text, want = _labelled(line)
        have = {(s.start, s.end) for s in find_person_names(text)}
        right += len(have & want)
        got += len(have)
        expected += len(want)
    return right / got, right / expected, right, got, expected


def test_precision_and_recall_on_the_labelled_set() -> None:
    assert len(LABELLED) == 50
    precision, recall, *_ = score()
    # measured: precision 1.00, recall 0.91 (missed on purpose: one-word names such as
    # "Robert" and "Sophie", a lower-case name, "Sir Alan Baker" kept whole with its title)
    assert precision >= 0.97
    assert recall >= 0.85



def test_spans_are_ordered_disjoint_and_within_the_text() -> None:
    import itertools
    import random

    rng = random.Random(11)
    pieces = ["Jane", "Smith", "Mr", "Mrs.", "J.", "A", "O'Brien", "May", "Will", ",", ";",
              "Ltd", "&", "Sons", "<x@example.com>", "\n", ".", " ", "  ", "jane", "SMITH",
              "Zoë", "-", "Smith-Jones", "'s", "Dear", "Grant", "Thornton", "(", ")"]
    for _ in range(300):
        text = " ".join(rng.choice(pieces) for _ in range(rng.randrange(1, 40)))
        spans = find_person_names(text)
        assert spans == sorted(spans)
        assert all(0 <= s.start < s.end <= len(text) for s in spans)
        assert all(a.end <= b.start for a, b in itertools.pairwise(spans))
        assert all(text[s.start].isupper() for s in spans)
