"""Transcripts of call recordings with pocketsphinx, on speech made by espeak-ng and sox.

The voice is espeak-ng's ``en-us+klatt``: the default voice's digits are barely recognised by
the bundled US English model (3 of 20 strings), the Klatt voice's all 20 at 16 kHz.
Assertions are on digit strings and spotted phrases, never on free text.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest

from connectors.recordings import transcripts
from connectors.recordings.transcripts import (
    Transcriber,
    Transcript,
    TranscriptError,
    Word,
    digits_in,
    matches,
    spoken_forms,
)

PHONE = "+447700900111"
PHONE_8K = "07700900404"  # one that survives 8 kHz (see the module docstring on "six")
VOICE = ("-v", "en-us+klatt")

# Only the optional extra may be missing; espeak-ng and sox are test requirements.
needs_audio = pytest.mark.skipif(not transcripts.available(),
                                 reason="the pocketsphinx extra is not installed")


# ---- pure functions ------------------------------------------------------------------------

def test_spoken_forms() -> None:
    assert spoken_forms("phone", PHONE) == [
        "zero seven seven zero zero nine zero zero one one one",
        "oh seven seven oh oh nine oh oh one one one"]
    assert spoken_forms("phone", "01632 960123")[0].startswith("zero one six three two")
    assert spoken_forms("account", "CAN123") == ["c a n one two three"]
    assert spoken_forms("account", "ab-10") == ["a b one zero", "a b one oh"]
    assert spoken_forms("name", "  Jane   DOE ") == ["jane doe"]
    assert spoken_forms("email", "jane@example.com") == []
    assert spoken_forms("account", "--") == []


def test_digits_in() -> None:
    said = "my number is oh seven seven double oh nine oh oh one one one thanks"
    assert digits_in(said) == ("07700900111",)
    assert digits_in("zero one six three two and then nine six zero") == ("01632", "960")
    assert digits_in("triple five 7") == ("5557",)
    assert digits_in("double trouble") == ()
    assert digits_in("") == ()


def _transcript(digits: tuple[str, ...], text: str = "") -> Transcript:
    return Transcript(words=(), text=text, digits=digits)


def test_matches_phone() -> None:
    assert matches(_transcript(("9907700900111",)), "phone", PHONE)
    assert matches(_transcript(("447700900111",)), "phone", PHONE)  # last 10 digits
    assert matches(_transcript(("07700900111",)), "phone", "07700 900111")
    assert not matches(_transcript(("07700900112", "111")), "phone", PHONE)
    assert not matches(_transcript(()), "phone", PHONE)


def test_matches_account_and_name() -> None:
    heard = _transcript(("123",), "hello this is jane doe account c a n one two three")
    assert matches(heard, "account", "CAN123")
    assert not matches(heard, "account", "CAN124")
    assert matches(_transcript(("99123456",)), "account", "123456")
    assert matches(heard, "name", "Jane Doe")
    assert not matches(heard, "name", "Doe Jane")
    assert not matches(heard, "email", "jane@example.com")


def test_public_and_repr() -> None:
    t = Transcript(words=(Word("jane", 0.1, 0.4), Word("seven", 0.5, 0.9)),
                   text="jane seven", digits=("7",))
    assert t.public() == {"text": "jane seven", "digits": ["7"],
                          "words": [{"text": "jane", "start": 0.1, "end": 0.4},
                                    {"text": "seven", "start": 0.5, "end": 0.9}]}
    assert repr(t) == "Transcript(<2 words, 1 digit runs>)"  # no words, no digits


def test_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pocketsphinx", None)  # import now raises ImportError
    assert transcripts.available() is False
    with pytest.raises(TranscriptError, match="not installed"):
        Transcriber()


# ---- audio ---------------------------------------------------------------------------------

Make = Callable[..., bytes]


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    return Transcriber()


@pytest.fixture(scope="module")
def make_wav(tmp_path_factory: pytest.TempPathFactory) -> Make:
    """Speech (or a sox synth effect) as WAV bytes at a given rate, width and channel count.
    sox runs repeatable (-R): its dither is random otherwise, and decoding is sensitive to it."""
    folder = tmp_path_factory.mktemp("speech")
    counter = iter(range(1000))

    def make(text: str | None = None, rate: int = 16000, bits: int = 16, channels: int = 1,
             synth: tuple[str, ...] = (), encoding: str = "signed-integer") -> bytes:
        n = next(counter)
        raw, out = folder / f"{n}.raw.wav", folder / f"{n}.wav"
        if text is not None:
            subprocess.run(["espeak-ng", *VOICE, "-w", str(raw), text], check=True)
            src = [str(raw)]
        else:
            src = ["-n", "-r", "16000", "-c", "1"]
        subprocess.run(["sox", "-V1", "-R", *src, "-r", str(rate), "-b", str(bits), "-c",
                        str(channels), "-e", encoding, str(out), *synth], check=True)
        return out.read_bytes()

    return make


def _pcm(data: bytes) -> tuple[bytes, int]:
    samples, rate = transcripts.read_wav(data)
    return samples.tobytes(), rate


@needs_audio
def test_phone_at_16k(transcriber: Transcriber, make_wav: Make) -> None:
    pcm, rate = _pcm(make_wav("my phone number is 0 7 7 0 0 9 0 0 1 1 1"))
    heard = transcriber.transcribe(pcm, rate)
    assert any("07700900111" in run for run in heard.digits)
    assert matches(heard, "phone", PHONE)
    assert not matches(heard, "phone", "+447700900112")
    starts = [w.start for w in heard.words]
    assert starts == sorted(starts) and all(w.end > w.start for w in heard.words)
    assert transcriber.transcribe(pcm, rate) == heard  # same answer on a reused decoder


@needs_audio
def test_phone_at_8k_telephone_wav(transcriber: Transcriber, make_wav: Make) -> None:
    heard = transcriber.transcribe_wav(make_wav("it is 0 7 7 0 0 9 0 0 4 0 4 thanks", rate=8000))
    assert matches(heard, "phone", PHONE_8K)


@needs_audio
def test_stereo_24bit_odd_rate_wav(transcriber: Transcriber, make_wav: Make) -> None:
    data = make_wav("you can call me on 0 1 6 3 2 9 6 0 9 7 0", rate=22050, bits=24, channels=2)
    assert matches(transcriber.transcribe_wav(data), "phone", "01632 960970")


@needs_audio
def test_tone_and_silence_give_no_digits(transcriber: Transcriber, make_wav: Make) -> None:
    tone = make_wav(synth=("synth", "3", "sine", "1000", "vol", "0.5"))
    assert transcriber.transcribe_wav(tone).digits == ()
    silence = make_wav(synth=("trim", "0", "2"))
    assert transcriber.transcribe_wav(silence).digits == ()
    pcm, rate = _pcm(tone)
    assert transcriber.spot(pcm, rate, ["jane doe", *spoken_forms("phone", PHONE)]) == []


@needs_audio
def test_spot_phone_forms(transcriber: Transcriber, make_wav: Make) -> None:
    pcm, rate = _pcm(make_wav("my phone number is 0 7 7 0 0 9 0 0 1 1 1"))
    forms = spoken_forms("phone", PHONE)
    wrong = spoken_forms("phone", "+447700900112")
    assert transcriber.spot(pcm, rate, [*forms, *wrong]) == forms


@needs_audio
def test_spot_name_and_account(transcriber: Transcriber, make_wav: Make) -> None:
    pcm, rate = _pcm(make_wav("hello my name is jane doe and my account is C A N 1 2 3"))
    account = spoken_forms("account", "CAN123")[0]
    phrases = ["jane doe", account, "john smith", spoken_forms("account", "CAN124")[0],
               spoken_forms("account", "DAN123")[0], "jane zzyzxq"]  # the last is not a word
    assert transcriber.spot(pcm, rate, phrases) == ["jane doe", account]
    assert transcriber.spot(pcm, rate, []) == []


@needs_audio
def test_float_wav_is_unsupported(transcriber: Transcriber, make_wav: Make) -> None:
    data = make_wav("one two three", bits=32, encoding="floating-point")
    with pytest.raises(TranscriptError, match="WAV"):
        transcriber.transcribe_wav(data)


@needs_audio
def test_corrupt_audio(transcriber: Transcriber, make_wav: Make) -> None:
    good = make_wav("one two three")
    bad = [b"", b"not a wav file at all", good[:30], good[:44], b"RIFF" + b"\xff" * 60]
    for data in bad:
        with pytest.raises(TranscriptError):
            transcriber.transcribe_wav(data)
    with pytest.raises(TranscriptError, match="empty"):
        transcriber.transcribe(b"", 16000)
    with pytest.raises(TranscriptError, match="16-bit"):
        transcriber.transcribe(b"\x00\x01\x02", 16000)
    with pytest.raises(TranscriptError, match="rate"):
        transcriber.transcribe(b"\x00\x00" * 100, 0)
    with pytest.raises(TranscriptError, match="rate"):
        transcriber.spot(b"\x00\x00" * 100, 10**9, ["jane doe"])


@needs_audio
def test_wav_widths_and_cut_short(make_wav: Make) -> None:
    eight = transcripts.read_wav(make_wav("one", bits=8, encoding="unsigned-integer"))
    sixteen = transcripts.read_wav(make_wav("one"))
    assert eight[1] == sixteen[1] == 16000 and len(eight[0]) == len(sixteen[0])
    # 8-bit is unsigned: its silence (128) must come out near zero, as in the 16-bit copy
    assert abs(eight[0][0]) <= 256 and abs(sixteen[0][0]) <= 256
    whole = make_wav("one two three")
    cut, rate = transcripts.read_wav(whole[:len(whole) // 2 + 1])  # odd cut: whole samples
    assert rate == 16000 and 0 < len(cut) < len(transcripts.read_wav(whole)[0])
