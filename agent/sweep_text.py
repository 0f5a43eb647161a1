"""Count every kind of personal data in a text in one pass, for discovery sweeps.

Unlike :mod:`agent.textscan` (one subject's identifiers, looked up), a sweep asks "what
kinds of personal data does this text hold, and how many?". :class:`SweepScanner` joins the
``text_pattern`` of the registered detectors into one compiled alternation per kind of
first character (detectors without a pattern are not used for text); each candidate is
then confirmed by its detector: checks (Luhn, mod-97, modulus, a plausible birth date...)
and the words just before it.

Speed (``bench/sweep_bench.py``, figures in bench/SWEEP_RESULTS.md):

- Business prose is mostly lower-case letters, and candidates start with a digit, an
  upper-case letter, ``+`` or ``(``. Each combined pattern starts with such a character
  class, which lets the regex engine skip the prose at C speed without entering the
  pattern; two cheap guards (``_GUARDS``) then drop most of those places before any
  detector's pattern is tried (each as a lookahead, see ``__init__``). Only matches reach
  Python code.
- A detector whose candidates may start with any letter declares a ``text_literal`` every
  candidate contains (e-mail: ``@``) and is searched only around its occurrences.
- A detector counted only after words naming it declares them (``text_context_words``:
  "DOB", "sort code", "company"); one Aho-Corasick pass finds the words and its pattern
  is tried just after them, instead of confirming every date in the text.

Detector text patterns must not define named groups (the alternation names its own).
Not found in text: an IPv6 address written from a letter (``fe80::1``).
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import ahocorasick_rs

from agent.detectors import Detector

# Every text candidate starts with one of these characters, except those of a detector
# with a ``text_literal`` (an e-mail address starts with any letter but contains an @).
_DIGIT_START = frozenset("0123456789+(")
_UPPER_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
START_CHARS = _DIGIT_START | _UPPER_START
# Cheap tests right after the first character, before any detector's pattern is tried:
# a candidate never follows a letter or digit; one starting with a digit, "+" or "(" goes
# on with at least four more digits or separators (1.2.3.4, +44 7700..., 20-00-00...;
# "12 March", "67 Mbps" are dropped at once); one starting with an upper-case letter has a
# digit after at most two more letters and a space (SW1A 1AA, AB 12 34 56 C, GB82...,
# SC123456: "The", "Please" are dropped at their second letter). Detectors whose shapes
# break these rules need ``text_context_words`` or ``text_literal``.
_GUARDS = {_DIGIT_START: r"(?<!\w.)(?=[\d .:/()-]{4})",
           _UPPER_START: r"(?<!\w.)(?=[A-Z]{0,2} ?\d)"}
# Characters before a candidate that its detector's text_context reads.
CONTEXT_CHARS = 40
# After a text_context_words word: how far on its detector's candidate may start.
_WORDED_AHEAD = 48
# Around each occurrence of a text_literal: how far its candidates reach back and on.
_LITERAL_BACK, _LITERAL_AHEAD = 64, 192


@dataclass
class SweepResult:
    counts: Counter[str] = field(default_factory=Counter)
    # (detector name, start, end) of each match, when asked for
    spans: list[tuple[str, int, int]] = field(default_factory=list)


class SweepScanner:
    """Scan texts for every detector with a ``text_pattern``; build once, scan many."""

    def __init__(self, detectors: Iterable[Detector]) -> None:
        by_pattern: dict[str, list[Detector]] = {}
        literal: dict[str, list[Detector]] = {}
        worded: list[Detector] = []
        # Detectors that need words before a candidate ("sort code") go last: at one place
        # the alternation takes the first pattern that matches ("20-00-00 12345678" is bank
        # details before "20-00-00" is a sort code).
        ordered = sorted((d for d in detectors if d.text_pattern),
                         key=lambda d: d.text_context is not None)
        for detector in ordered:
            pattern: str = detector.text_pattern  # type: ignore[assignment]
            if detector.text_context_words:
                worded.append(detector)
                continue
            (literal if detector.text_literal else by_pattern).setdefault(
                pattern, []).append(detector)
        # Detectors counted only after words naming them ("DOB:", "sort code"): the words
        # are rare, the shapes (any date) common, so look for the words first (one
        # Aho-Corasick pass over the lower-cased text) and for the shape just after them.
        self._worded = [(d, re.compile(d.text_pattern)) for d in worded]  # type: ignore[arg-type]
        words: dict[str, list[int]] = {}
        for i, d in enumerate(worded):
            for word in d.text_context_words:
                words.setdefault(word.lower(), []).append(i)
        self._words = list(words.values())
        self._word_list = list(words)
        self._automaton = (ahocorasick_rs.AhoCorasick(
            list(words), matchkind=ahocorasick_rs.MatchKind.LeftmostLongest) if words else None)
        self._words_re = (re.compile("|".join(re.escape(w) for w in sorted(words, key=len,
                                                                             reverse=True)),
                                     re.IGNORECASE) if words else None)
        self._groups: list[tuple[Detector, ...]] = [tuple(ds) for ds in by_pattern.values()]
        self._singles = [re.compile(pattern) for pattern in by_pattern]
        self._starts = [_first_chars(pattern) for pattern in by_pattern]
        self._literal = [(re.compile(pattern), ds[0].text_literal or "", tuple(ds))
                         for pattern, ds in literal.items()]
        self.detector_names = [d.name for ds in (*self._groups, *literal.values(), worded)
                               for d in ds]
        # One combined pattern per kind of first character (digits and "+(", upper-case
        # letters), holding only the patterns that can start with it: fewer alternatives
        # tried at each place. Each starts with its character class, which lets the regex
        # engine skip the prose between candidates without entering the pattern; the class
        # consumes that first character, a one-character lookbehind steps back onto it and
        # each alternative's lookahead matches a detector's pattern from there, captured in
        # its named group (the candidate).
        self._combined: list[re.Pattern[str]] = []
        # For a candidate its detector rejects, the patterns worth trying at the same place:
        # those after it in the alternation for its first character (the ones before it
        # did not match there, or the alternation would have taken them).
        self._after: dict[tuple[int, str], list[int]] = {}
        # Upper-case first: an IBAN (GB82 WEST 1234 5698 7654 32) holds digit groups that
        # look like a card number by themselves; the later pass skips what it counted.
        for chars in (_UPPER_START, _DIGIT_START):
            members = [i for i, starts in enumerate(self._starts) if starts & chars]
            for pos, i in enumerate(members):
                for ch in chars:
                    self._after[(i, ch)] = [j for j in members[pos + 1:]
                                            if ch in self._starts[j]]
            if members:
                alternatives = "|".join(f"(?=(?P<g{i}>{self._singles[i].pattern}))."
                                        for i in members)
                start_class = "[" + re.escape("".join(sorted(chars))) + "]"
                self._combined.append(
                    re.compile(f"{start_class}{_GUARDS[chars]}(?<=(?:{alternatives}))"))
        self._index = {f"g{i}": i for i in range(len(self._groups))}

    def __bool__(self) -> bool:
        return bool(self._groups or self._literal or self._worded)

    def count(self, text: str) -> Counter[str]:
        """Matches per detector name in ``text``."""
        return self.scan(text).counts

    def scan(self, text: str, *, spans: bool = False) -> SweepResult:
        result = SweepResult()
        if not text:
            return result
        counts, found = result.counts, result.spans
        confirm, index = self._confirm, self._index
        claimed: list[tuple[int, int]] = []  # spans already counted, for the worded pass
        for combined in self._combined:
            taken = 0  # end of the last confirmed candidate: no second match inside it
            earlier = sorted(claimed)  # counted by an earlier pass
            for m in combined.finditer(text):
                key = m.lastgroup
                start, end = m.span(key)
                if start < taken or (earlier and _overlaps(earlier, start, end)):
                    continue
                name = confirm(text, index[key], start, m.group(key))  # type: ignore[index]
                if name is not None:
                    counts[name] += 1
                    taken = end
                    claimed.append((start, end))
                    if spans:
                        found.append((name, start, end))
        for pattern, needle, detectors in self._literal:
            self._scan_literal(text, pattern, needle, detectors, counts, found, spans)
        if self._automaton is not None:
            self._scan_worded(text, counts, found, spans, claimed)
        return result

    def _confirm(self, text: str, index: int, start: int, candidate: str) -> str | None:
        """The detector that confirms a candidate: its own pattern's, else another pattern
        matching at the same place (a 16-digit run failing Luhn as a card is an ICCID)."""
        before = text[max(0, start - CONTEXT_CHARS):start]
        for detector in self._groups[index]:
            if detector.confirm_text(candidate, before):
                return detector.name
        for other in self._after.get((index, text[start]), ()):
            alt = self._singles[other].match(text, start)
            if alt is None:
                continue
            for detector in self._groups[other]:
                if detector.confirm_text(alt.group(), before):
                    return detector.name
        return None

    def _scan_worded(self, text: str, counts: Counter[str], found: list[tuple[str, int, int]],
                     spans: bool, claimed: list[tuple[int, int]]) -> None:
        """Candidates of the detectors with ``text_context_words``, in the characters just
        after each of their words; not where another detector already counted a match."""
        lowered = text.lower()
        if len(lowered) == len(text):
            hits = self._automaton.find_matches_as_indexes(lowered)  # type: ignore[union-attr]
        else:  # a character whose lower case is longer: offsets would drift
            index = {w: i for i, w in enumerate(self._word_list)}
            hits = [(index[m.group().lower()], m.start(), m.end())
                    for m in self._words_re.finditer(text)]  # type: ignore[union-attr]
            lowered = text  # for the whole-word test below: offsets of the text itself
        claimed.sort()
        seen: set[tuple[int, int]] = set()
        size = len(text)
        for word, begin, end in hits:
            # whole words only: "reg" but not "regarding"
            if (begin and lowered[begin - 1].isalnum()) or (end < size
                                                             and lowered[end].isalnum()):
                continue
            for i in self._words[word]:
                detector, pattern = self._worded[i]
                m = pattern.search(text, end, end + _WORDED_AHEAD)
                if m is None or (i, m.start()) in seen:
                    continue
                start = m.start()
                seen.add((i, start))
                if _overlaps(claimed, start, m.end()):
                    continue
                if detector.confirm_text(m.group(), text[max(0, start - CONTEXT_CHARS):start]):
                    counts[detector.name] += 1
                    if spans:
                        found.append((detector.name, start, m.end()))

    @staticmethod
    def _scan_literal(text: str, pattern: re.Pattern[str], needle: str,
                      detectors: tuple[Detector, ...], counts: Counter[str],
                      found: list[tuple[str, int, int]], spans: bool) -> None:
        """Candidates of a detector with a ``text_literal``: searched only around each
        occurrence of the literal (str.find runs at C speed)."""
        at = text.find(needle)
        done = 0  # windows never overlap: each starts after the last match found
        while at >= 0:
            lo = max(done, at - _LITERAL_BACK)
            hi = min(len(text), at + _LITERAL_AHEAD)
            for m in pattern.finditer(text, lo, hi):
                if needle not in m.group():
                    continue
                start = m.start()
                before = text[max(0, start - CONTEXT_CHARS):start]
                for detector in detectors:
                    if detector.confirm_text(m.group(), before):
                        counts[detector.name] += 1
                        if spans:
                            found.append((detector.name, start, m.end()))
                        break
                done = max(done, m.end())
            at = text.find(needle, max(at + 1, done))


def _first_chars(pattern: str) -> frozenset[str]:
    """The characters of START_CHARS a match of ``pattern`` can start with (all of them
    when the pattern is too involved to tell)."""
    from re import _constants as c  # type: ignore[attr-defined]
    from re import _parser  # type: ignore[attr-defined]

    def first(items: list[tuple[object, object]]) -> set[str] | None:
        for i, (op, av) in enumerate(items):
            if op in (c.ASSERT, c.ASSERT_NOT, c.AT):
                continue  # zero width
            if op is c.LITERAL:
                return {chr(av)}  # type: ignore[arg-type]
            if op is c.IN:
                out: set[str] = set()
                for sub_op, sub_av in av:  # type: ignore[attr-defined]
                    if sub_op is c.LITERAL:
                        out.add(chr(sub_av))
                    elif sub_op is c.RANGE:
                        out.update(chr(x) for x in range(sub_av[0], sub_av[1] + 1))
                    elif sub_op is c.CATEGORY and sub_av is c.CATEGORY_DIGIT:
                        out.update("0123456789")
                    else:
                        return None
                return out
            if op is c.SUBPATTERN:
                return first(list(av[3]))  # type: ignore[index]
            if op is c.BRANCH:
                union: set[str] = set()
                for alt in av[1]:  # type: ignore[index]
                    got = first(list(alt))
                    if got is None:
                        return None
                    union |= got
                return union
            if op in (c.MAX_REPEAT, c.MIN_REPEAT):
                low, _high, sub = av  # type: ignore[misc]
                got = first(list(sub))
                if got is None:
                    return None
                if low == 0:
                    rest = first(items[i + 1:])
                    return None if rest is None else got | rest
                return got
            return None
        return None

    found = first(list(_parser.parse(pattern)))
    return frozenset(START_CHARS if found is None else found & START_CHARS)


def _overlaps(claimed: list[tuple[int, int]], start: int, end: int) -> bool:
    """Whether [start, end) overlaps a span of ``claimed`` (sorted, not overlapping)."""
    i = bisect.bisect_right(claimed, (start, end))
    return any(lo < end and start < hi for lo, hi in claimed[max(0, i - 1):i + 1])
