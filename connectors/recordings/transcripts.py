"""Optional transcripts of call recordings (needs the ``pocketsphinx`` extra).

Two passes over 16 kHz mono 16-bit PCM with the model bundled in pocketsphinx 5:
- free decoding with the bundled US English n-gram model, for the words of the transcript;
- a grammar of digit words only, for the digit runs. The free model mishears spoken digits
  (espeak-ng "0 7 7 0 0 ..." came back as "the second set and the like"); the digit grammar
  gets them right at 16 kHz. Non-digit speech in that pass turns into stray digits, so a run
  may *contain* a number: ``matches`` allows that.
Keyword spotting (``spot``) finds names and spelled account letters.

8 kHz telephone audio is upsampled to 16 kHz by linear interpolation (pure Python: numpy is not
a dependency) with a faint noise floor. The bundled model cannot decode 8 kHz natively: its
feat.params fixes the mel filters' upper edge at 6800 Hz (``samprate=8000, nfft=256`` fails to
start), and with a copy set to 3500 Hz no digit string came back.

Measured on 20 espeak-ng (en-us+klatt) sentences holding an 11-digit phone number or an account
number: the number came back inside a digit run for 20/20 at 16 kHz and 11/20 at 8 kHz (8/20
without the noise floor, 7/20 with sox's resampler; "six" loses its fricatives and becomes
"two eight"). Telephone-band audio is therefore a weak signal: a miss proves nothing.

A transcript is personal data: nothing here logs it or puts words in an exception message.
"""

from __future__ import annotations

import importlib
import os
import random
import re
import struct
import tempfile
import threading
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import phonenumbers

RATE = 16000  # the bundled acoustic model's sample rate
FRAME_RATE = 100  # pocketsphinx frames per second (its default ``frate``)
MAX_RATE = 192000
WAVE_PCM = 1
WAVE_EXTENSIBLE = 0xFFFE
CHUNK = 4  # words per keyword-spotting phrase (see _chunks)
NOISE_FLOOR = 30  # standard deviation in 16-bit steps (see _add_floor)
MAX_GAP = 100  # frames (1 s) allowed between the chunks of one phrase

DIGIT_WORDS = {"zero": "0", "oh": "0", "o": "0", "nought": "0", "one": "1", "two": "2",
               "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
               "nine": "9"}
SPOKEN_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
REPEATS = {"double": 2, "triple": 3}
_GRAMMAR = ("#JSGF V1.0;\ngrammar digits;\npublic <utt> = <digit>+;\n<digit> = "
            + " | ".join(sorted({w for w in DIGIT_WORDS if w in SPOKEN_DIGITS or w == "oh"}))
            + ";\n")
_DIGIT_SEARCH = "digits"
_FREE_SEARCH = "_default"  # the search pocketsphinx builds from the configured n-gram model
_ALT = re.compile(r"\(\d+\)$")  # alternate pronunciation marker: "zero(2)"


def available() -> bool:
    """Whether pocketsphinx can be imported (the optional extra is installed)."""
    try:
        importlib.import_module("pocketsphinx")
    except ImportError:
        return False
    return True


class TranscriptError(RuntimeError):
    """Audio that cannot be transcribed; the message gives the reason only."""


@dataclass(frozen=True)
class Word:
    text: str
    start: float  # seconds from the start of the audio
    end: float


@dataclass(frozen=True)
class Transcript:
    words: tuple[Word, ...]
    text: str
    digits: tuple[str, ...]

    def public(self) -> dict[str, Any]:
        """The transcript as it goes into an access export."""
        return {"text": self.text, "digits": list(self.digits),
                "words": [{"text": w.text, "start": w.start, "end": w.end} for w in self.words]}

    def __repr__(self) -> str:  # personal data: never in a repr
        return f"Transcript(<{len(self.words)} words, {len(self.digits)} digit runs>)"


def digits_in(text: str) -> tuple[str, ...]:
    """Maximal runs of spoken digits in ``text`` ("oh seven seven ..." -> ("077...",)).
    "double"/"triple" repeat the next digit; any other word ends a run."""
    runs: list[str] = []
    current = ""
    repeat = 1
    for token in re.findall(r"[a-z]+|\d", text.lower()):
        digit = token if token.isdigit() else DIGIT_WORDS.get(token)
        if digit is not None:
            current += digit * repeat
            repeat = 1
        elif token in REPEATS and repeat == 1:
            repeat = REPEATS[token]
        else:
            if current:
                runs.append(current)
            current, repeat = "", 1
    if current:
        runs.append(current)
    return tuple(runs)


def _national_digits(value: str) -> str:
    """A phone number's national form as digits ("+447700900111" -> "07700900111")."""
    try:
        number = phonenumbers.parse(value, "GB")
    except phonenumbers.NumberParseException:
        return re.sub(r"\D", "", value)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return re.sub(r"\D", "", national)


def _spell(chars: str, zero: str) -> str:
    return " ".join(SPOKEN_DIGITS[int(c)] if c.isdigit() and c != "0"
                    else zero if c == "0" else c for c in chars)


def spoken_forms(kind: str, value: str) -> list[str]:
    """How an identifier sounds when read out: "zero" and "oh" forms for numbers, letters
    spelled for accounts, the name itself. Kinds that are not spoken give ``[]``."""
    if kind == "phone":
        chars = _national_digits(value)
    elif kind == "account":
        chars = re.sub(r"[^a-z0-9]", "", value.lower())
    elif kind == "name":
        name = " ".join(re.findall(r"[a-z']+", value.lower()))
        return [name] if name else []
    else:
        return []
    if not chars:
        return []
    forms = [_spell(chars, "zero")]
    if "0" in chars:
        forms.append(_spell(chars, "oh"))
    return forms


def _tokens(transcript: Transcript) -> list[str]:
    """The transcript as characters and words: digit words become digits."""
    return [DIGIT_WORDS.get(t, t) for t in re.findall(r"[a-z']+|\d", transcript.text.lower())]


def _contains(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    n = len(needle)
    return n > 0 and any(list(haystack[i:i + n]) == list(needle)
                         for i in range(len(haystack) - n + 1))


def matches(transcript: Transcript, kind: str, value: str) -> bool:
    """Whether the identifier was heard: a phone's national digits or last 10 digits inside a
    digit run; an account's letters and digits spelled in order; a name's tokens in order."""
    if kind == "phone":
        national = _national_digits(value)
        wanted = {d for d in (national, national[-10:]) if len(d) >= 7}
        return any(w in run for w in wanted for run in transcript.digits)
    if kind == "account":
        chars = list(re.sub(r"[^a-z0-9]", "", value.lower()))
        if chars and all(c.isdigit() for c in chars):
            return any("".join(chars) in run for run in transcript.digits)
        return _contains(_tokens(transcript), chars)
    if kind == "name":
        return _contains(_tokens(transcript), re.findall(r"[a-z']+", value.lower()))
    return False


def _to_mono16(frames: bytes, width: int, channels: int) -> array:
    """Little-endian PCM of any sample width and channel count as mono 16-bit samples."""
    if width == 1:  # 8-bit WAV is unsigned
        samples = array("h", ((b - 128) << 8 for b in frames))
    elif width == 2:
        samples = array("h")
        samples.frombytes(frames)
    elif width in (3, 4):
        top = width - 2  # keep the two most significant bytes of each sample
        samples = array("h")
        samples.frombytes(b"".join(frames[i + top:i + width]
                                   for i in range(0, len(frames), width)))
    else:
        raise TranscriptError(f"unsupported sample width: {width} bytes")
    if channels > 1:
        samples = array("h", (sum(samples[i:i + channels]) // channels
                              for i in range(0, len(samples) - channels + 1, channels)))
    return samples


def _resample(samples: array, rate: int) -> array:
    """Linear interpolation to 16 kHz (telephone audio is 8 kHz)."""
    if rate == RATE or len(samples) < 2:
        return samples
    count = len(samples) * RATE // rate
    last = len(samples) - 1
    step = rate / RATE
    out = array("h", bytes(2 * count))
    for i in range(count):
        pos = i * step
        j = int(pos)
        if j >= last:
            out[i] = samples[last]
            continue
        frac = pos - j
        out[i] = int(samples[j] + (samples[j + 1] - samples[j]) * frac)
    return out


def _add_floor(samples: array) -> array:
    """Faint white noise (about -60 dBFS, fixed seed) over upsampled audio. The model's mel
    filters reach 6800 Hz; upsampled 8 kHz audio leaves them empty above 4 kHz, and with the
    noise floor 11 of 20 espeak digit strings came back instead of 8."""
    noise = random.Random(0)
    return array("h", (max(-32768, min(32767, s + int(noise.gauss(0, NOISE_FLOOR))))
                       for s in samples))


def _check_pcm(pcm: bytes, rate: int) -> None:
    if not pcm:
        raise TranscriptError("empty audio")
    if len(pcm) % 2:
        raise TranscriptError("PCM is not whole 16-bit samples")
    if not 4000 <= rate <= MAX_RATE:
        raise TranscriptError(f"unsupported sample rate: {rate}")


def _all_digits(phrase: str) -> bool:
    return all(word in DIGIT_WORDS for word in phrase.split())


def _chunks(phrase: str) -> list[str]:
    """A long phrase as runs of at most CHUNK words: pocketsphinx's keyword spotter never
    reported a phrase of six or more words (spelled accounts, phone numbers) at any
    threshold, while runs of three to five words were found."""
    words = phrase.split()
    count = -(-len(words) // CHUNK)
    size = -(-len(words) // count)
    return [" ".join(words[i:i + size]) for i in range(0, len(words), size)]


def _in_sequence(chunks: list[str], hits: list[tuple[str, int, int]]) -> bool:
    """Whether the chunks were heard one after another, each starting within MAX_GAP frames
    of the previous one's end."""
    ends = [end for word, _, end in hits if word == chunks[0]]
    for chunk in chunks[1:]:
        ends = [end for word, start, end in hits if word == chunk
                and any(prev - 5 <= start <= prev + MAX_GAP for prev in ends)]
    return bool(ends)


def _threshold(words: int) -> float:
    """Keyword-spotting threshold: longer phrases need a lower one to be reported at all."""
    return 10.0 ** -min(50, 10 + 10 * words)


class Transcriber:
    """One loaded model (slow to load: keep and reuse). Decoding is serialised by a lock."""

    def __init__(self) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError as exc:
            raise TranscriptError("pocketsphinx is not installed") from exc
        self._decoder = Decoder(samprate=RATE, cmn="batch", loglevel="FATAL")
        self._decoder.add_jsgf_string(_DIGIT_SEARCH, _GRAMMAR)
        self._lock = threading.Lock()

    def transcribe(self, pcm: bytes, rate: int) -> Transcript:
        """Transcribe 16-bit mono little-endian PCM at ``rate`` Hz."""
        audio = self._prepare(pcm, rate)
        with self._lock:
            words = self._words(self._decode(_FREE_SEARCH, audio))
            digit_words = self._words(self._decode(_DIGIT_SEARCH, audio))
        text = " ".join(w.text for w in words)
        runs = digits_in(" ".join(w.text for w in digit_words))
        extra = tuple(r for r in digits_in(text) if r not in runs)
        return Transcript(words=words, text=text, digits=runs + extra)

    def transcribe_wav(self, data: bytes) -> Transcript:
        """Transcribe a PCM WAV of any width, channel count and rate."""
        samples, rate = read_wav(data)
        return self.transcribe(samples.tobytes(), rate)

    def spot(self, pcm: bytes, rate: int, phrases: Sequence[str]) -> list[str]:
        """The phrases (as given) heard in the audio. A phrase of digit words only is looked
        for in the digit grammar's runs: the keyword spotter confuses digit words ("one one
        two" was reported for spoken "one one one"). Other phrases (names, spelled accounts)
        go to the keyword spotter. A phrase with a word the dictionary lacks is never
        reported."""
        audio = self._prepare(pcm, rate)
        keys = {p: k for p in phrases if (k := self._dictionary_form(p))}
        numbers = {p: digits_in(k)[0] for p, k in keys.items() if _all_digits(k)}
        chunks = {p: _chunks(k) for p, k in keys.items() if p not in numbers}
        runs: tuple[str, ...] = ()
        hits: list[tuple[str, int, int]] = []
        with self._lock:
            if numbers:
                runs = digits_in(" ".join(w.text for w in self._words(
                    self._decode(_DIGIT_SEARCH, audio))))
            if chunks:
                hits = [(s.word.strip(), s.start_frame, s.end_frame) for s in
                        self._spot(audio, {c for cs in chunks.values() for c in cs})]
        return [p for p in keys
                if (p in numbers and any(numbers[p] in run for run in runs))
                or (p in chunks and _in_sequence(chunks[p], hits))]

    # internals ---------------------------------------------------------------------------

    @staticmethod
    def _prepare(pcm: bytes, rate: int) -> bytes:
        _check_pcm(pcm, rate)
        samples = array("h")
        samples.frombytes(pcm)
        audio = _resample(samples, rate)
        return (_add_floor(audio) if rate < RATE else audio).tobytes()

    def _decode(self, search: str, audio: bytes) -> list[Any]:
        decoder = self._decoder
        decoder.activate_search(search)
        decoder.start_utt()
        decoder.process_raw(audio, full_utt=True)
        decoder.end_utt()
        return list(decoder.seg() or [])

    @staticmethod
    def _words(segments: list[Any]) -> tuple[Word, ...]:
        """Real words only (no <s>, <sil>, [NOISE]), pronunciation markers removed."""
        return tuple(Word(_ALT.sub("", s.word), s.start_frame / FRAME_RATE,
                          (s.end_frame + 1) / FRAME_RATE)
                     for s in segments if not s.word.startswith(("<", "[")))

    def _dictionary_form(self, phrase: str) -> str:
        """The phrase in dictionary words: a lone letter is its letter name ("a." = EY)."""
        out: list[str] = []
        for token in phrase.lower().split():
            if len(token) == 1 and token.isalpha() and self._decoder.lookup_word(token + "."):
                token += "."
            if not self._decoder.lookup_word(token):
                return ""
            out.append(token)
        return " ".join(out)

    def _spot(self, audio: bytes, keys: set[str]) -> list[Any]:
        # pocketsphinx reads a keyphrase list from a file only; it holds the phrases briefly
        fd, path = tempfile.mkstemp(suffix=".kws")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.writelines(f"{k} /{_threshold(len(k.split())):.0e}/\n" for k in keys)
            self._decoder.add_kws("spot", path)
        finally:
            os.unlink(path)
        try:
            return self._decode("spot", audio)
        finally:
            self._decoder.remove_search("spot")


def read_wav(data: bytes) -> tuple[array, int]:
    """A PCM WAV's samples as mono 16-bit and its rate; anything else is a TranscriptError.
    Parsed here rather than with ``wave``, which on Python 3.11 rejects the extensible
    header sox and most recorders write for 24-bit or multichannel PCM."""
    if not data:
        raise TranscriptError("empty audio")
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise TranscriptError("not a RIFF WAVE file")
    fmt: tuple[int, int, int, int] | None = None  # encoding, channels, rate, block size
    pos = 12
    while pos + 8 <= len(data):
        kind, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        body = data[pos + 8:pos + 8 + size]  # a data chunk may be cut short: keep what is there
        if kind == b"fmt ":
            fmt = _wav_format(body)
        elif kind == b"data":
            if fmt is None:
                raise TranscriptError("WAV data before its format chunk")
            return _wav_samples(body, fmt), fmt[2]
        pos += 8 + size + (size & 1)
    raise TranscriptError("WAV has no format or data chunk")


def _wav_format(body: bytes) -> tuple[int, int, int, int]:
    if len(body) < 16:
        raise TranscriptError("WAV format chunk is too short")
    tag, channels, rate, _, block, _ = struct.unpack("<HHIIHH", body[:16])
    if tag == WAVE_EXTENSIBLE and len(body) >= 26:
        tag = int.from_bytes(body[24:26], "little")  # the sub-format GUID's first field
    if tag != WAVE_PCM:
        raise TranscriptError("unsupported WAV encoding: only integer PCM is read")
    if channels < 1 or block < channels or block % channels:
        raise TranscriptError("WAV format chunk is inconsistent")
    return tag, channels, rate, block


def _wav_samples(body: bytes, fmt: tuple[int, int, int, int]) -> array:
    _, channels, _, block = fmt
    whole = len(body) - len(body) % block
    if not whole:
        raise TranscriptError("WAV holds no audio")
    return _to_mono16(body[:whole], block // channels, channels)
