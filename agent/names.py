"""Person names in running text, from first-name and surname lists shipped with the package.

The lists (``agent/data/names``, built by ``tools/build_name_lists.py`` from the US Census
1990 name lists, public domain, plus a short hand-written list of common UK names) are
loaded once, on first use. :func:`find_person_names` makes one regex pass over the text for
capitalised words, groups adjacent ones and keeps a group only when the evidence says
person:

- a title and what follows it: "Mr Smith", "Mrs J. Smith", "Dr Jane Okafor";
- a listed given name and a capitalised surname: "Jane Smith", "Jane A. Smith-Jones",
  "Sean O'Brien"; the surname may be unlisted ("Maya Okafor") when the given name is not
  also a word;
- "Smith, Jane" (a listed surname, a comma, a listed given name, then the end of an item);
- a display name before an e-mail address: "Jane Smith <jane@example.com>".

Given names that are also everyday words, months or places ("Will", "May", "Grant",
"Paris") count only capitalised, not at the start of a sentence, and followed by a listed
surname. Groups followed by a company or place word ("Grant Thornton Ltd", "Victoria
Station", "Smith & Sons") and well-known brand names ("John Lewis") are not people. A single
word is never a name on its own ("Dear Jane" is not found), and neither is a name written in
lower case: precision first, so callers keep their human review.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.resources import files
from typing import NamedTuple

_UP = "A-Z\u00c0-\u00d6\u00d8-\u00de"
_LOW = "a-z\u00df-\u00f6\u00f8-\u00ff"
_APOS = "'\u2019"
# Smith, McDonald, O'Brien, D'Arcy, Zoë; then hyphenated parts: Smith-Jones
_CAP = rf"[{_UP}](?:[{_LOW}]|[{_APOS}](?=[{_UP}{_LOW}])|[{_UP}](?=[{_LOW}]))*[{_LOW}]"
_CAPS = rf"[{_UP}]{{2,}}(?:[{_APOS}][{_UP}]+)?"  # SMITH, O'BRIEN: counted only when listed
_TOKEN = re.compile(
    rf"(?<![\w@./\\-])"
    rf"(?:{_CAP}(?:-{_CAP})*|{_CAPS}(?:-{_CAPS})*|[{_UP}](?=\.|\s))"
    rf"(?![\w@/\\-]|\.\w)\.?")
_GAP = re.compile(r"[ \t\u00a0]{1,3}")  # between words of one name: spaces, no line break
_COMMA_GAP = re.compile(r",[ \t\u00a0]{0,2}")
_TAIL_COMPANY = re.compile(r"[ \t\u00a0]*(?:&|\band\b)[ \t\u00a0]*"
                           r"(?:Co|Company|Sons?|Partners|Daughters)\b")
_BEFORE_EMAIL = re.compile(r"[ \t\u00a0]*[\"']?[ \t\u00a0]*<[^<>\s@]+@")
_ITEM_END = re.compile(r"[ \t\u00a0]*(?:$|[;,)\]\n<(/|]|and\b|&)")
_SENTENCE_END = frozenset(".!?")  # a list after ";" or ":" is not a new sentence
_OPENERS = frozenset("\"'\u2018\u201c([*\u2022-")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


TITLES = _words("""
mr mrs ms miss mx dr prof professor sir dame lady lord rev revd reverend fr cllr councillor
""")

# Words that end a name where they stand next to it: a company or a place, not a person.
COMPANY_WORDS = _words("""
ltd limited plc llp llc inc corp corporation co company group holdings services solutions
partners partnership associates consulting consultants bros brothers sons trust bank
insurance energy telecom telecoms communications media systems technologies
technology tech software plumbing electrical electrics builders construction motors garage
print printing design studio studios foods logistics transport haulage properties property
estates lettings accountants solicitors law legal financial finance capital investments
ventures enterprises international industries manufacturing supplies trading traders retail
stores store shop cafe restaurant bakery salon clinic dental pharmacy surgery practice
agency network networks digital global direct online uk europe foundation charity
association society union federation institute academy
""")
PLACE_WORDS = _words("""
street st road rd lane ln avenue ave close drive crescent terrace gardens square sq place
mews way walk parade estate station airport hospital school college university centre
center house hotel building buildings tower city town county borough council valley bay
harbour island islands industrial business shopping leisure sports club church cathedral
chapel museum library theatre cinema stadium market village jersey guernsey london
manchester birmingham leeds glasgow edinburgh cardiff belfast bristol liverpool sheffield
newcastle nottingham leicester coventry bradford wales england scotland ireland britain
yorkshire lancashire
""")
# Capitalised words that start sentences, greet, sign off or label things in notes.
_COMMON = _words("""
the a an this that these those it its he she they we you i our your their his her my me us
him them there here then when where what which who whom why how if as at in on of to for
from by with without about after before during since until into onto over under per via
please thanks thank dear hi hello hey regards kind yours sincerely cheers re fw fwd
subject note notes yes no not and but or nor so all any some each every new old other
customer client caller engineer agent manager director account accounts invoice invoices
contract contracts payment payments order orders ticket team sales support office head
department ref reference tel telephone phone email mail fax address postcode date time
total amount balance due paid called spoke asked said sent emailed rang left message
voicemail monday tuesday wednesday thursday friday saturday sunday january february march
july october november december today tomorrow yesterday morning afternoon evening also
just still again only even both either neither another such same own more most less least
very well good great many much few several first second third last next following
previous above below mobile landline broadband fibre sim handset iphone samsung galaxy
pixel nokia vodafone orange tesco virgin sky bt ee gas electricity water bills
quote quotes renewal direct debit dd vat ni hmrc gdpr sar dsr cc bcc attn pp mon tue wed
thu fri sat sun feb mar apr jun jul aug sep sept oct nov dec
""")
STOP_WORDS = _COMMON | COMPANY_WORDS | PLACE_WORDS
# Given name + surname pairs that are brands or places, not a person in the text.
NOT_PEOPLE = frozenset({
    ("john", "lewis"), ("ted", "baker"), ("jack", "daniels"), ("harley", "davidson"),
    ("morgan", "stanley"), ("merrill", "lynch"), ("mercedes", "benz"),
    ("grant", "thornton"), ("milton", "keynes"), ("newton", "abbot"),
    ("newton", "aycliffe"), ("austin", "healey"), ("aston", "martin"), ("calvin", "klein"),
    ("ralph", "lauren"), ("tommy", "hilfiger"), ("john", "deere"), ("dr", "martens"),
    ("martin", "lewis"),
})


@dataclass(frozen=True, order=True)
class NameSpan:
    """Where a person's name stands in a text: ``text[start:end]``."""

    start: int
    end: int


@dataclass(frozen=True)
class Lexicon:
    given: frozenset[str]
    surnames: frozenset[str]
    ambiguous: frozenset[str]  # given names that are also words: need context


def _read(name: str) -> frozenset[str]:
    text = files("agent").joinpath("data", "names", name).read_text(encoding="ascii")
    return frozenset(line.strip() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


@cache
def lexicon() -> Lexicon:
    """The lists, read once per process."""
    return Lexicon(_read("given.txt"), _read("surnames.txt"), _read("given_ambiguous.txt"))


def name_key(word: str) -> str:
    """A word as the lists hold it: lower case, no apostrophes or trailing ``'s``/dot."""
    word = word.rstrip(".")
    if word[-2:] in ("'s", "\u2019s"):
        word = word[:-2]
    key = word.lower().replace("'", "").replace("\u2019", "")
    if not key.isascii():  # the lists are ASCII: Zoë is zoe, Siân is sian
        key = "".join(c for c in unicodedata.normalize("NFKD", key)
                      if not unicodedata.combining(c))
    return key


def is_given_name(word: str) -> bool:
    """``word`` (any case; hyphenated parts all) is a listed given name, ambiguous or not."""
    given = lexicon().given
    return all(p in given for p in name_key(word).split("-") if p) and bool(name_key(word))


def is_surname(word: str) -> bool:
    """``word`` (any case) is a listed surname, or a double-barrelled one with a listed part."""
    surnames = lexicon().surnames
    return any(p in surnames for p in name_key(word).split("-") if p)


# token kinds
_TITLE, _INITIAL, _STOP, _GIVEN, _AMBIGUOUS, _SURNAME, _OTHER = range(7)


class _Tok(NamedTuple):
    start: int
    end: int  # without a trailing dot or 's
    kind: int
    key: str
    listed_surname: bool
    caps: bool  # written all in capitals
    dot: bool  # ended with a dot


def _classify(match: re.Match[str]) -> _Tok:
    raw = match.group(0)
    start, end = match.span()
    dot = raw.endswith(".")
    if dot:
        raw, end = raw[:-1], end - 1
    if raw[-2:] in ("'s", "\u2019s") and len(raw) > 3:
        raw, end = raw[:-2], end - 2
    kind, key, surname, caps = _word_kind(raw)
    return _Tok(start, end, kind, key, surname, caps, dot)


@lru_cache(maxsize=1 << 16)
def _word_kind(raw: str) -> tuple[int, str, bool, bool]:
    """What a word is, remembered: notes repeat the same few thousand words."""
    lex = lexicon()
    key = name_key(raw)
    caps = len(raw) > 1 and raw.isupper()
    parts = [p for p in key.split("-") if p]
    surname = any(p in lex.surnames for p in parts)
    if len(raw) == 1:
        kind = _INITIAL
    elif key in TITLES:
        kind = _TITLE
    elif key in STOP_WORDS or any(p in STOP_WORDS for p in parts):
        kind = _STOP
    elif parts and all(p in lex.given for p in parts):
        kind = _AMBIGUOUS if key in lex.ambiguous else _GIVEN
    elif surname:
        kind = _SURNAME
    else:
        kind = _STOP if caps else _OTHER  # an unlisted word in capitals: an acronym
    return kind, key, surname, caps


def find_person_names(text: str) -> list[NameSpan]:
    """Spans of people's names in ``text`` (titles left out: "Mr [Smith]"), in order."""
    spans: list[NameSpan] = []
    chunk: list[_Tok] = []
    for match in _TOKEN.finditer(text):
        tok = _classify(match)
        if chunk and not _joins(text, chunk[-1], tok):
            _names_in(text, chunk, spans)
            chunk = []
        chunk.append(tok)
    if chunk:
        _names_in(text, chunk, spans)
    return spans


def _joins(text: str, prev: _Tok, tok: _Tok) -> bool:
    """Two words belong to one group: spaces between, and no full stop after a word."""
    if prev.dot and prev.kind not in (_TITLE, _INITIAL):
        return False
    gap = _GAP.match(text, prev.end + (1 if prev.dot else 0))
    return gap is not None and gap.end() == tok.start


def _sentence_start(text: str, at: int) -> bool:
    """Nothing but openers and spaces since the start or the last sentence end."""
    i = at - 1
    while i >= 0 and (text[i] in _OPENERS or text[i].isspace()):
        if text[i] == "\n":
            return True
        i -= 1
    return i < 0 or text[i] in _SENTENCE_END


_NAMEISH = (_INITIAL, _GIVEN, _AMBIGUOUS, _SURNAME, _OTHER)


def _names_in(text: str, chunk: list[_Tok], spans: list[NameSpan]) -> None:
    """The names in one group of adjacent capitalised words (appended to ``spans``)."""
    after = chunk[-1].end + (1 if chunk[-1].dot else 0)
    if _TAIL_COMPANY.match(text, after):
        return  # "Jane Smith & Co": a business
    if _BEFORE_EMAIL.match(text, after):
        words = [t for t in chunk if t.kind != _TITLE]
        if (words and len(words) <= 4 and all(t.kind in _NAMEISH for t in words)
                and any(t.kind in (_GIVEN, _AMBIGUOUS) or t.listed_surname for t in words)
                and words[-1].kind != _INITIAL):
            spans.append(NameSpan(words[0].start, words[-1].end))
            return
    if _comma_form(text, chunk, spans):
        return
    i, n = 0, len(chunk)
    while i < n:
        tok = chunk[i]
        if tok.kind == _TITLE:
            found = _after_title(chunk, i)
        elif tok.kind in (_GIVEN, _AMBIGUOUS, _INITIAL):
            found = _given_surname(text, chunk, i)
        else:
            found = None
        if found is None:
            i += 1
            continue
        first, last = found
        spans.append(NameSpan(chunk[first].start, chunk[last].end))
        i = last + 1


def _run(chunk: list[_Tok], i: int, limit: int) -> int:
    """Index of the last of up to ``limit`` name-like words from ``i``."""
    j = i
    while j + 1 < len(chunk) and j + 1 - i < limit and chunk[j + 1].kind in _NAMEISH:
        j += 1
    return j


def _place_after(chunk: list[_Tok], last: int) -> bool:
    """A company or place word follows: "Grant Thornton Ltd", "Victoria Station"."""
    return last + 1 < len(chunk) and (chunk[last + 1].key in PLACE_WORDS
                                      or chunk[last + 1].key in COMPANY_WORDS)


def _after_title(chunk: list[_Tok], i: int) -> tuple[int, int] | None:
    """Mr Smith, Mrs J. Smith, Dr Jane Okafor: the words after a title, up to four."""
    if i + 1 >= len(chunk) or chunk[i + 1].kind not in _NAMEISH:
        return None
    last = _run(chunk, i + 1, 4)
    while last > i and chunk[last].kind == _INITIAL:
        last -= 1
    if last == i or _place_after(chunk, last):
        return None
    words = chunk[i + 1:last + 1]
    if all(t.caps for t in words) and not any(t.listed_surname for t in words):
        return None  # MR ACME: capitals count only when listed
    return i + 1, last


def _given_surname(text: str, chunk: list[_Tok], i: int) -> tuple[int, int] | None:
    """A given name (or initials) and a surname: the longest plausible run from ``i``."""
    last = _run(chunk, i, 4)
    for end in range(last, i, -1):
        if _person(text, chunk, i, end):
            return i, end
    return None


def _person(text: str, chunk: list[_Tok], i: int, end: int) -> bool:
    first, surname = chunk[i], chunk[end]
    middle = chunk[i + 1:end]
    if surname.kind == _INITIAL or _place_after(chunk, end):
        return False
    if (first.key, surname.key) in NOT_PEOPLE:
        return False
    initial_start = i == 0 and _sentence_start(text, first.start)
    if first.kind == _INITIAL:
        # J. Smith, J A Smith: initials only before a listed surname; "A"/"I" need a dot
        if not all(t.kind == _INITIAL for t in middle) or not surname.listed_surname:
            return False
        return first.dot or (first.key not in ("a", "i") and not initial_start)
    if any(t.kind not in (_INITIAL, _GIVEN, _AMBIGUOUS, _SURNAME, _OTHER) for t in middle):
        return False
    if end > i + 1 and surname.kind == _AMBIGUOUS:
        return False  # "Jane Smith Will call": the name ends before a word-like name
    if first.caps or surname.caps:
        # JANE SMITH: both listed, and the given name not a word ("MAY SMITH")
        return (first.kind == _GIVEN and surname.listed_surname
                and surname.key not in _ambiguous())
    if first.kind == _AMBIGUOUS:
        # Will Smith (mid-sentence), not "Will Call" at the start of a sentence
        if not surname.listed_surname or surname.key in _ambiguous():
            return False
        return not initial_start
    return surname.listed_surname or surname.kind == _OTHER


def _ambiguous() -> frozenset[str]:
    return lexicon().ambiguous


def _comma_form(text: str, chunk: list[_Tok], spans: list[NameSpan]) -> bool:
    """"Smith, Jane" or "Smith, Jane A.": a one-word chunk, a comma, a given name that
    ends the item. Appends the span to ``spans`` and says whether it did."""
    if len(chunk) != 1 or chunk[0].kind not in (_SURNAME, _GIVEN, _AMBIGUOUS) or chunk[0].caps:
        return False
    if not chunk[0].listed_surname or chunk[0].dot:
        return False
    comma = _COMMA_GAP.match(text, chunk[0].end)
    if comma is None:
        return False
    words: list[_Tok] = []
    for match in _TOKEN.finditer(text, comma.end()):
        tok = _classify(match)
        if words and not _joins(text, words[-1], tok):
            break
        if not words and tok.start != comma.end():
            return False
        words.append(tok)
        if len(words) == 3:
            break
    if not words or words[0].caps or words[0].kind not in (_GIVEN, _AMBIGUOUS):
        return False
    if words[0].kind == _AMBIGUOUS and chunk[0].kind != _SURNAME:
        return False  # "Jones, Bob" but not "May, June"
    while len(words) > 1 and words[-1].kind != _INITIAL:
        words.pop()
    tail = words[-1].end + (1 if words[-1].dot else 0)
    if not (_ITEM_END.match(text, tail) or words[-1].dot):
        return False
    spans.append(NameSpan(chunk[0].start, words[-1].end))
    return True
