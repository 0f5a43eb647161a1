"""probe(): container, codec and duration read from a recording's first bytes and its size."""

from __future__ import annotations

import io
import json
import random
import struct
import wave
from pathlib import Path

import pytest

from connectors.recordings.media import HEAD_BYTES, AudioError, AudioInfo, probe
from tests.support.audio import convert, sox_can_write, soxi_seconds, speech_wav, wav_bytes

SPEECH = "Hello, this is a test call about the mobile contract for account twelve."


def probe_bytes(data: bytes, name: str = "") -> AudioInfo:
    """As the connector calls it: only the head, plus the whole size."""
    return probe(data[:HEAD_BYTES], len(data), name)


def probe_path(path: Path) -> AudioInfo:
    return probe_bytes(path.read_bytes(), path.name)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return speech_wav(SPEECH, tmp_path_factory.mktemp("audio") / "speech.wav")


# ---------------------------------------------------------------- hand-built WAV pieces

def chunk(cid: bytes, body: bytes, *, pad: bool = True) -> bytes:
    tail = b"\0" if pad and len(body) % 2 else b""
    return cid + struct.pack("<I", len(body)) + body + tail


def fmt_body(tag: int = 1, channels: int = 1, rate: int = 8000, bits: int = 16,
             extra: bytes | None = None) -> bytes:
    align = channels * max(bits // 8, 1)
    body = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)
    return body if extra is None else body + struct.pack("<H", len(extra)) + extra


def riff(*chunks: bytes, riff_size: int | None = None, magic: bytes = b"RIFF") -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return magic + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


# ---------------------------------------------------------------- WAV made by the stdlib

@pytest.mark.parametrize(("seconds", "rate", "channels"), [
    (1.0, 8000, 1), (2.5, 16000, 1), (0.75, 44100, 2), (1.234, 48000, 2), (0.01, 11025, 1),
])
def test_pcm_wav_duration_exact(seconds: float, rate: int, channels: int) -> None:
    info = probe_bytes(wav_bytes(seconds, rate=rate, channels=channels), "call.wav")
    assert (info.format, info.codec, info.bits_per_sample) == ("wav", "pcm_s16le", 16)
    assert (info.sample_rate, info.channels) == (rate, channels)
    assert info.duration_seconds == pytest.approx(seconds, abs=1e-3)


def test_wav_bytes_agrees_with_soxi(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    path.write_bytes(wav_bytes(3.0, rate=16000, channels=2))  # 192 kB: more than the head
    assert path.stat().st_size > HEAD_BYTES
    assert probe_path(path).duration_seconds == pytest.approx(soxi_seconds(path), abs=1e-3)


def test_public_is_json_ready_and_rounded() -> None:
    info = probe_bytes(wav_bytes(1.0 / 3, rate=8000))
    public = info.public()
    assert json.loads(json.dumps(public)) == public
    assert public == {"format": "wav", "codec": "pcm_s16le", "sample_rate": 8000,
                      "channels": 1, "duration_seconds": 0.333, "bits_per_sample": 16}
    unknown = AudioInfo("wav", "pcm_s16le", 8000, 1, None)
    assert unknown.public()["duration_seconds"] is None


# ---------------------------------------------------------------- speech through sox

def test_speech_wav_from_espeak(speech: Path) -> None:
    info = probe_path(speech)
    assert (info.codec, info.sample_rate, info.channels) == ("pcm_s16le", 16000, 1)
    assert 1.0 < info.duration_seconds < 15.0  # type: ignore[operator]
    assert info.duration_seconds == pytest.approx(soxi_seconds(speech), abs=1e-3)


def test_speech_resampled_wav(speech: Path, tmp_path: Path) -> None:
    out = convert(speech, tmp_path / "out.wav")
    assert probe_path(out).duration_seconds == pytest.approx(soxi_seconds(out), abs=1e-3)


def test_raw_gsm_from_sox(speech: Path, tmp_path: Path) -> None:
    out = convert(speech, tmp_path / "call.gsm")
    info = probe_path(out)
    assert (info.format, info.codec, info.sample_rate, info.channels) == ("gsm", "gsm", 8000, 1)
    assert out.stat().st_size % 33 == 0
    # soxi cannot say a raw GSM file's length; GSM pads the last 20 ms frame
    assert info.duration_seconds == pytest.approx(out.stat().st_size / 33 * 0.02)
    assert abs(info.duration_seconds - soxi_seconds(speech)) < 0.02  # type: ignore[operator]
    assert probe(out.read_bytes(), out.stat().st_size).format == "gsm"  # no name needed


def test_raw_gsm_cut_mid_frame_needs_the_name(speech: Path, tmp_path: Path) -> None:
    data = convert(speech, tmp_path / "call.gsm").read_bytes()[:-10]
    info = probe_bytes(data, "1700000000.42.gsm")
    assert info.duration_seconds == pytest.approx(len(data) // 33 * 0.02)
    with pytest.raises(AudioError, match="not a WAV, MP3, GSM or raw"):
        probe_bytes(data)


def test_wav49_gsm_in_wav_uses_fact_samples(speech: Path, tmp_path: Path) -> None:
    out = convert(speech, tmp_path / "wav49.wav", encoding="gsm-full-rate")
    info = probe_path(out)
    assert (info.format, info.codec, info.sample_rate, info.channels) == ("wav", "gsm_ms", 8000, 1)
    # the fact chunk gives the exact count; soxi counts whole 320-sample blocks
    assert abs(info.duration_seconds - soxi_seconds(speech)) < 2e-3  # type: ignore[operator]
    assert 0 <= soxi_seconds(out) - info.duration_seconds < 0.04  # type: ignore[operator]


def test_wav49_without_fact_counts_blocks() -> None:
    fmt = fmt_body(0x31, 1, 8000, 0, extra=struct.pack("<H", 320))
    fmt = fmt[:8] + struct.pack("<IH", 1625, 65) + fmt[14:]
    data = riff(chunk(b"fmt ", fmt), chunk(b"data", b"\xa6" * 65 * 50))
    info = probe_bytes(data, "x.WAV")
    assert (info.codec, info.bits_per_sample) == ("gsm_ms", None)
    assert info.duration_seconds == pytest.approx(50 * 320 / 8000)


@pytest.mark.parametrize(("encoding", "codec"), [("u-law", "pcm_mulaw"), ("a-law", "pcm_alaw")])
def test_companded_wav(speech: Path, tmp_path: Path, encoding: str, codec: str) -> None:
    out = convert(speech, tmp_path / f"{encoding}.wav", encoding=encoding)
    info = probe_path(out)
    assert (info.codec, info.sample_rate, info.bits_per_sample) == (codec, 8000, 8)
    assert info.duration_seconds == pytest.approx(soxi_seconds(out), abs=1e-3)


def test_float_wav(speech: Path, tmp_path: Path) -> None:
    out = convert(speech, tmp_path / "float.wav", encoding="floating-point")
    info = probe_path(out)
    assert (info.codec, info.sample_rate) == ("pcm_f32le", 16000)
    assert info.duration_seconds == pytest.approx(soxi_seconds(out), abs=1e-3)


def test_mp3_from_sox_or_a_clear_error(speech: Path, tmp_path: Path) -> None:
    if not sox_can_write("mp3"):
        with pytest.raises(RuntimeError, match="libsox-fmt-mp3"):
            convert(speech, tmp_path / "call.mp3")
        return
    out = convert(speech, tmp_path / "call.mp3")
    info = probe_path(out)
    assert (info.format, info.codec) == ("mp3", "mp3")
    assert info.duration_seconds == pytest.approx(soxi_seconds(out), abs=0.06)
    tagged = id3v2(b"TIT2", b"\x03Call 42\x00") + out.read_bytes()
    assert probe_bytes(tagged).duration_seconds == pytest.approx(info.duration_seconds)


# ---------------------------------------------------------------- hand-built WAV structure

def test_list_before_fmt_and_odd_chunks() -> None:
    pcm = b"\x01\x00" * 8000  # 1 s at 8 kHz mono
    data = riff(chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00Lavf\x00\x00"),
                chunk(b"junk", b"abc"),  # odd: padded
                chunk(b"fmt ", fmt_body()),
                chunk(b"bext", b"x" * 601),
                chunk(b"data", pcm),
                chunk(b"LIST", b"INFO"))
    assert probe_bytes(data).duration_seconds == pytest.approx(1.0)


def test_odd_chunk_without_padding_byte() -> None:
    data = riff(chunk(b"LIST", b"abcde", pad=False), chunk(b"fmt ", fmt_body()),
                chunk(b"data", b"\0" * 4000))
    assert probe_bytes(data).duration_seconds == pytest.approx(0.25)


def test_extensible_wav() -> None:
    guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    extra = struct.pack("<HI", 24, 0x3) + struct.pack("<H", 1) + guid_tail
    fmt = fmt_body(0xFFFE, 2, 48000, 24, extra=extra)
    data = riff(chunk(b"fmt ", fmt), chunk(b"data", b"\0" * 6 * 48000 * 2))
    info = probe_bytes(data)
    assert (info.codec, info.channels, info.bits_per_sample) == ("pcm_s24le", 2, 24)
    assert info.duration_seconds == pytest.approx(2.0)


def test_pcm_u8() -> None:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setparams((1, 1, 8000, 0, "NONE", "not compressed"))
        out.writeframes(b"\x80" * 12000)
    info = probe_bytes(buf.getvalue())
    assert (info.codec, info.bits_per_sample) == ("pcm_u8", 8)
    assert info.duration_seconds == pytest.approx(1.5)


def test_data_size_unset_uses_file_size() -> None:
    pcm = b"\0" * 16000 * 2 * 2  # 2 s at 16 kHz mono 16-bit
    data = riff(chunk(b"fmt ", fmt_body(rate=16000)), b"data\xff\xff\xff\xff" + pcm,
                riff_size=0xFFFFFFFF)
    assert probe_bytes(data).duration_seconds == pytest.approx(2.0)


def test_stale_header_of_a_recording_being_written() -> None:
    pcm = b"\0" * 8000 * 2 * 3  # 3 s on disk
    grown = riff(chunk(b"fmt ", fmt_body()), b"data" + struct.pack("<I", 10**9) + pcm)
    assert probe_bytes(grown).duration_seconds == pytest.approx(3.0)
    zeroed = riff(chunk(b"fmt ", fmt_body()), b"data\0\0\0\0" + pcm, riff_size=0)
    assert probe_bytes(zeroed).duration_seconds == pytest.approx(3.0)


def test_empty_data_is_zero_seconds() -> None:
    data = riff(chunk(b"fmt ", fmt_body()), chunk(b"data", b""), chunk(b"LIST", b"INFO"))
    assert probe_bytes(data).duration_seconds == 0.0


def test_rf64() -> None:
    pcm = b"\0" * 8000 * 2
    ds64 = struct.pack("<QQQI", 0, len(pcm), 8000, 0)
    data = riff(chunk(b"ds64", ds64), chunk(b"fmt ", fmt_body()), b"data\xff\xff\xff\xff" + pcm,
                riff_size=0xFFFFFFFF, magic=b"RF64")
    assert probe_bytes(data).duration_seconds == pytest.approx(1.0)


def test_truncated_file_keeps_what_is_there() -> None:
    data = wav_bytes(2.0, rate=8000)[: 44 + 8000]  # cut after 0.5 s of audio
    assert probe_bytes(data).duration_seconds == pytest.approx(0.5)


@pytest.mark.parametrize(("cut", "message"), [
    (3, "WAV header truncated"), (11, "WAV header truncated"), (16, "WAV header truncated"),
    (24, "fmt chunk truncated"), (36, "WAV has no data chunk"),
])
def test_truncated_header(cut: int, message: str) -> None:
    with pytest.raises(AudioError, match=message):
        probe_bytes(wav_bytes(1.0)[:cut])


@pytest.mark.parametrize(("fmt", "message"), [
    (fmt_body(channels=0), "zero channels"),
    (fmt_body(rate=0), "zero sample rate"),
    (fmt_body(bits=12), "unsupported sample size"),
    (fmt_body(tag=0xFFFE, extra=b"\0" * 4), "extensible fmt chunk truncated"),
])
def test_bad_fmt(fmt: bytes, message: str) -> None:
    with pytest.raises(AudioError, match=message):
        probe_bytes(riff(chunk(b"fmt ", fmt), chunk(b"data", b"\0" * 100)))


def test_other_riff_and_missing_chunks() -> None:
    with pytest.raises(AudioError, match="not a WAVE file"):
        probe_bytes(b"RIFF\x10\0\0\0AVI LIST\0\0\0\0")
    with pytest.raises(AudioError, match="no fmt chunk"):
        probe_bytes(riff(chunk(b"data", b"\0" * 100)))
    with pytest.raises(AudioError, match="RIFX"):
        probe_bytes(b"RIFX\0\0\0\x24WAVE" + b"\0" * 40)


def test_fmt_beyond_the_head() -> None:
    data = riff(chunk(b"LIST", b"\0" * (HEAD_BYTES + 10)), chunk(b"fmt ", fmt_body()),
                chunk(b"data", b"\0" * 100))
    with pytest.raises(AudioError, match="not within the probed bytes"):
        probe_bytes(data)


def test_data_beyond_the_head_is_an_unknown_duration() -> None:
    data = riff(chunk(b"fmt ", fmt_body()), chunk(b"LIST", b"\0" * (HEAD_BYTES + 10)),
                chunk(b"data", b"\0" * 100))
    info = probe_bytes(data)
    assert (info.codec, info.duration_seconds) == ("pcm_s16le", None)


# ---------------------------------------------------------------- MP3, hand-built frames

def mp3_frame(b1: int, b2: int, b3: int, length: int, payload: bytes = b"") -> bytes:
    """A layer III frame of silence: zeroed side info decodes to nothing."""
    body = payload.ljust(length - 4, b"\0")
    return bytes((0xFF, b1, b2, b3)) + body


# MPEG-1 layer III, no CRC; 48 kHz: 128 kbit/s frames are 384 bytes, 64 kbit/s are 192
M1_128, M1_64 = (0xFB, 0x94, 0x40, 384), (0xFB, 0x54, 0x40, 192)


def id3v2(frame_id: bytes, value: bytes, *, footer: bool = False) -> bytes:
    frame = frame_id + struct.pack(">I", len(value)) + b"\0\0" + value
    body = frame + b"\0" * 37  # padding, as taggers leave
    n = len(body)
    size = bytes(((n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F))
    flags = 0x10 if footer else 0
    tail = b"3DI\x04\x00" + bytes([flags]) + size if footer else b""
    return b"ID3\x04\x00" + bytes([flags]) + size + body + tail


def test_cbr_mp3_with_id3v2() -> None:
    frames = mp3_frame(*M1_128) * 125  # 125 * 1152 / 48000 = 3 s
    for footer in (False, True):
        info = probe_bytes(id3v2(b"TIT2", b"\x03Call 42\0", footer=footer) + frames)
        assert (info.format, info.codec, info.sample_rate, info.channels) == ("mp3", "mp3",
                                                                              48000, 2)
        assert info.duration_seconds == pytest.approx(3.0)


def test_cbr_mp3_larger_than_head_uses_size() -> None:
    frames = mp3_frame(*M1_128) * 1250  # 30 s, 480 kB
    assert probe_bytes(frames, "a.mp3").duration_seconds == pytest.approx(30.0)


def test_id3v1_subtracted_when_whole_file_seen() -> None:
    data = mp3_frame(*M1_128) * 25 + b"TAG" + b"\0" * 125
    assert probe_bytes(data).duration_seconds == pytest.approx(0.6)


def test_xing_vbr_frame_count() -> None:
    n = 100  # 50 at 128 kbit/s, 50 at 64: size alone would mislead
    xing = b"\0" * 32 + b"Xing" + struct.pack(">II", 1, n)
    data = mp3_frame(*M1_128, payload=xing) + (mp3_frame(*M1_128) + mp3_frame(*M1_64)) * 50
    assert probe_bytes(data).duration_seconds == pytest.approx(n * 1152 / 48000)


def test_info_header_in_mono_mpeg1() -> None:
    mono = (0xFB, 0x94, 0xC0, 384)
    info_tag = b"\0" * 17 + b"Info" + struct.pack(">II", 3, 40) + struct.pack(">I", 40 * 384)
    data = mp3_frame(*mono, payload=info_tag) + mp3_frame(*mono) * 40
    info = probe_bytes(data)
    assert info.channels == 1
    assert info.duration_seconds == pytest.approx(40 * 1152 / 48000)


def test_vbri_header() -> None:
    vbri = b"\0" * 32 + b"VBRI" + struct.pack(">HHHII", 1, 0, 75, 0, 80)
    data = mp3_frame(*M1_128, payload=vbri) + mp3_frame(*M1_64) * 80
    assert probe_bytes(data).duration_seconds == pytest.approx(80 * 1152 / 48000)


def test_mpeg2_and_mpeg25_mono() -> None:
    mpeg2 = mp3_frame(0xF3, 0x84, 0xC0, 192) * 100  # 24 kHz, 64 kbit/s, 576 samples a frame
    info = probe_bytes(mpeg2)
    assert (info.sample_rate, info.channels) == (24000, 1)
    assert info.duration_seconds == pytest.approx(100 * 576 / 24000)
    mpeg25 = mp3_frame(0xE3, 0x18, 0xC0, 72) * 50  # 8 kHz, 8 kbit/s
    info = probe_bytes(mpeg25)
    assert info.sample_rate == 8000
    assert info.duration_seconds == pytest.approx(50 * 576 / 8000)


def test_mp3_with_junk_before_first_frame_needs_the_name() -> None:
    data = b"\x00\x11junk\xff\x00" + mp3_frame(*M1_128) * 25
    assert probe_bytes(data, "rec.MP3").duration_seconds == pytest.approx(0.6, abs=1e-3)
    with pytest.raises(AudioError, match="not a WAV, MP3, GSM or raw"):
        probe_bytes(data)


def test_false_sync_is_not_mp3() -> None:
    data = bytes((0xFF, 0xFB, 0x94, 0x40)) + bytes(range(256)) * 4
    with pytest.raises(AudioError, match="not a WAV, MP3, GSM or raw"):
        probe_bytes(data)
    with pytest.raises(AudioError, match="MP3 has no valid frame header"):
        probe_bytes(data, "x.mp3")


@pytest.mark.parametrize(("data", "message"), [
    (id3v2(b"TIT2", b"\x03x"), "no audio after its ID3v2 tag"),
    (id3v2(b"TIT2", b"\x03x") + b"\0" * 500, "no valid frame header"),
    (b"ID3\x04\x00\x00\x00\x00", "ID3v2 tag truncated"),
    (b"ID3\x04\x00\x00\x80\x00\x00\x00" + b"\0" * 100, "ID3v2 tag size is invalid"),
    (b"ID3\x04\x00\x00\x00\x08\x00\x00" + b"\0" * (HEAD_BYTES * 3), "larger than the probed"),
])
def test_bad_mp3(data: bytes, message: str) -> None:
    with pytest.raises(AudioError, match=message):
        probe_bytes(data)


# ---------------------------------------------------------------- not audio at all

def test_random_bytes_empty_and_text() -> None:
    rng = random.Random(1234)
    for n in (1, 33, 100, 4096, HEAD_BYTES + 5000):
        with pytest.raises(AudioError):
            probe_bytes(rng.randbytes(n))
    with pytest.raises(AudioError, match="empty"):
        probe(b"", 0)
    with pytest.raises(AudioError, match="empty"):
        probe(b"", 100)
    with pytest.raises(AudioError, match="not a WAV, MP3, GSM or raw"):
        probe_bytes(b"%PDF-1.7\n" + b"x" * 500, "call.wav")


def test_gsm_signature_checked() -> None:
    frames = (b"\xd5" + b"\0" * 32) * 10
    assert probe_bytes(frames).duration_seconds == pytest.approx(0.2)
    with pytest.raises(AudioError, match="not a WAV, MP3, GSM or raw"):
        probe_bytes(frames[:66])  # two frames: too few to tell from chance without the name
    assert probe_bytes(frames[:66], "a.gsm").duration_seconds == pytest.approx(0.04)
    broken = frames[:33 * 4] + b"\x15" + frames[33 * 4 + 1:]
    with pytest.raises(AudioError, match="GSM frame signature missing"):
        probe_bytes(broken, "x.gsm")
    assert probe_bytes(frames, "misnamed.mp3").format == "gsm"  # the bytes decide
    with pytest.raises(AudioError, match="not a WAV, MP3, GSM or raw"):
        probe_bytes(broken)


def test_errors_name_no_file_or_content() -> None:
    secret = "07700900123 jane@example.com"
    for data in (secret.encode(), riff(chunk(b"fmt ", fmt_body(rate=0)))):
        with pytest.raises(AudioError) as err:
            probe_bytes(data, f"{secret}.wav")
        assert "07700" not in str(err.value) and "example" not in str(err.value)


def test_data_before_fmt() -> None:
    data = riff(chunk(b"data", b"\0" * 8000), chunk(b"fmt ", fmt_body()))
    assert probe_bytes(data).duration_seconds == pytest.approx(0.5)


def test_missing_tools_name_the_debian_package(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no sox, no espeak-ng
    with pytest.raises(RuntimeError, match="Debian package espeak-ng"):
        speech_wav("hello", tmp_path / "s.wav")
    with pytest.raises(RuntimeError, match="Debian package sox"):
        convert(tmp_path / "s.wav", tmp_path / "s.gsm")


@pytest.mark.parametrize(("name", "codec", "rate", "width"), [
    ("call.sln", "pcm_s16le", 8000, 2), ("call.sln16", "pcm_s16le", 16000, 2),
    ("call.ulaw", "pcm_mulaw", 8000, 1), ("call.alaw", "pcm_alaw", 8000, 1)])
def test_asterisk_headerless_formats_by_extension(name: str, codec: str, rate: int,
                                                  width: int) -> None:
    size = rate * width * 3  # three seconds of samples
    info = probe(bytes(range(256)) * 8, size, name)
    assert (info.codec, info.sample_rate, info.channels) == (codec, rate, 1)
    assert info.duration_seconds == 3.0
