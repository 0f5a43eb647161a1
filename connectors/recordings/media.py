"""What a call recording is, read from its bytes: container, codec, rate, channels, duration.

``probe()`` sees only the start of the file (``HEAD_BYTES``) and the file's size, so it works
the same on a local file, an SFTP/SMB share or an S3 ranged GET. Formats: WAV (RIFF, RF64,
PCM / float / mu-law / a-law / GSM 6.10 "WAV49" / extensible), MP3 (MPEG 1/2/2.5 layer III,
CBR or Xing/Info/VBRI VBR) and raw GSM 6.10 (Asterisk's default ``.gsm``).

Audio is personal data: errors say what is wrong with the structure, never bytes or names.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

HEAD_BYTES = 64 * 1024


class AudioError(ValueError):
    """The bytes are not a recording we can read; the message says what is wrong."""


@dataclass(frozen=True)
class AudioInfo:
    format: str  # "wav" | "mp3" | "gsm"
    codec: str  # "pcm_s16le", "pcm_mulaw", "gsm_ms", "gsm", "mp3", ...
    sample_rate: int | None
    channels: int | None
    duration_seconds: float | None  # None only when it truly cannot be known
    bits_per_sample: int | None = None

    def public(self) -> dict[str, Any]:
        """JSON-ready, as the access export shows it."""
        duration = self.duration_seconds
        return {
            "format": self.format,
            "codec": self.codec,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "duration_seconds": None if duration is None else round(duration, 3),
            "bits_per_sample": self.bits_per_sample,
        }


def probe(head: bytes, size: int, name: str = "") -> AudioInfo:
    """Describe a recording from its first ``HEAD_BYTES`` (``head``) and whole ``size``.

    The bytes decide the format; ``name``'s extension only helps where bytes alone are weak
    (an MP3 with junk before its first frame, a raw GSM file cut mid-frame)."""
    if size <= 0 or not head:
        raise AudioError("recording is empty")
    head = head[:size]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if head[:4] in (b"RIFF", b"RF64", b"BW64") or (len(head) < 12 and b"RIFF".startswith(head)):
        return _probe_wav(head, size)
    if head[:4] == b"RIFX":
        raise AudioError("big-endian (RIFX) WAV is not supported")
    if head[:3] == b"ID3" or _mp3_header(head, 0) is not None or ext == "mp3":
        info = _probe_mp3(head, size, tagged=head[:3] == b"ID3")
        if info is not None:
            return info
    info = _probe_gsm(head, size, ext)
    if info is not None:
        return info
    if ext in _HEADERLESS:  # Asterisk's raw formats: only the extension says what they are
        codec, rate, width = _HEADERLESS[ext]
        return AudioInfo(ext, codec, rate, 1, size // width / rate, width * 8)
    if ext == "mp3":
        raise AudioError("MP3 has no valid frame header")
    raise AudioError("not a WAV, MP3, GSM or raw (sln, ulaw, alaw) recording")


# ---------------------------------------------------------------- WAV

# WAVE format tags -> codec names; PCM and float depend on bits, so they are handled apart.
_WAV_CODECS = {
    0x0002: "adpcm_ms",
    0x0006: "pcm_alaw",
    0x0007: "pcm_mulaw",
    0x0011: "adpcm_ima_wav",
    0x0031: "gsm_ms",
    0x0040: "g721",
    0x0050: "mp2",
    0x0055: "mp3",
    0x0064: "g726",
}
_PCM, _FLOAT, _GSM, _EXTENSIBLE = 0x0001, 0x0003, 0x0031, 0xFFFE
_UNSET = 0xFFFFFFFF  # a size field left for later: RF64, or a header still being written
# Asterisk's headerless formats (extension -> codec, sample rate, bytes per sample)
_HEADERLESS = {"sln": ("pcm_s16le", 8000, 2), "raw": ("pcm_s16le", 8000, 2),
               "sln16": ("pcm_s16le", 16000, 2), "ulaw": ("pcm_mulaw", 8000, 1),
               "pcm": ("pcm_mulaw", 8000, 1), "alaw": ("pcm_alaw", 8000, 1),
               "al": ("pcm_alaw", 8000, 1), "ul": ("pcm_mulaw", 8000, 1)}


@dataclass
class _Fmt:
    tag: int
    channels: int
    rate: int
    byte_rate: int
    block_align: int
    bits: int
    samples_per_block: int = 0


@dataclass
class _Riff:
    fmt: _Fmt | None = None
    fact_samples: int | None = None
    data_offset: int | None = None
    data_size: int | None = None
    ds64_data_size: int | None = None
    riff_size: int = 0
    walked_past_head: bool = False


def _probe_wav(head: bytes, size: int) -> AudioInfo:
    if len(head) < 12 or head[8:12] != b"WAVE":
        if len(head) < 12:
            raise AudioError("WAV header truncated")
        raise AudioError("RIFF file is not a WAVE file")
    riff = _walk_riff(head, size)
    if riff.fmt is None:
        if riff.walked_past_head:
            raise AudioError("WAV fmt chunk not within the probed bytes")
        raise AudioError("WAV header truncated" if riff.data_offset is None
                         else "WAV has no fmt chunk")
    fmt = riff.fmt
    codec = _wav_codec(fmt)
    bits = fmt.bits or None
    if riff.data_offset is None:
        if riff.walked_past_head:  # fmt seen, data chunk further on than we can see
            return AudioInfo("wav", codec, fmt.rate, fmt.channels, None, bits)
        raise AudioError("WAV has no data chunk")
    data_size, from_file = _wav_data_size(riff, riff.data_offset, size)
    seconds = _wav_seconds(fmt, data_size, None if from_file else riff.fact_samples)
    return AudioInfo("wav", codec, fmt.rate, fmt.channels, seconds, bits)


def _walk_riff(head: bytes, size: int) -> _Riff:
    """Find fmt, fact, ds64 and data; stop at data once fmt is known."""
    riff = _Riff(riff_size=struct.unpack_from("<I", head, 4)[0])
    pos = 12
    while True:
        if pos + 8 > len(head):
            riff.walked_past_head = pos + 8 <= size
            return riff
        cid = head[pos:pos + 4]
        csize = struct.unpack_from("<I", head, pos + 4)[0]
        body = pos + 8
        if cid == b"data":
            riff.data_offset, riff.data_size = body, csize
            if riff.fmt is not None or csize == _UNSET:
                return riff
        elif cid == b"fmt ":
            riff.fmt = _parse_fmt(head[body:body + csize], csize)
        elif cid == b"fact" and csize >= 4 and body + 4 <= len(head):
            riff.fact_samples = struct.unpack_from("<I", head, body)[0]
        elif cid == b"ds64" and csize >= 16 and body + 16 <= len(head):
            riff.ds64_data_size = struct.unpack_from("<Q", head, body + 8)[0]
        if csize == _UNSET:  # an unknown chunk of unknown length: nothing after it is findable
            return riff
        pos = _next_chunk(head, body + csize, csize)


def _next_chunk(head: bytes, end: int, csize: int) -> int:
    """Chunks are padded to even sizes, but some writers forget: trust what looks like an id."""
    if csize % 2 == 0:
        return end
    if _looks_like_id(head[end + 1:end + 5]) or not _looks_like_id(head[end:end + 4]):
        return end + 1
    return end


def _looks_like_id(cid: bytes) -> bool:
    return len(cid) == 4 and all(0x20 <= b < 0x7F for b in cid)


def _parse_fmt(body: bytes, declared: int) -> _Fmt:
    if declared < 16 or len(body) < 16:
        raise AudioError("WAV fmt chunk truncated")
    tag, channels, rate, byte_rate, align, bits = struct.unpack_from("<HHIIHH", body)
    if channels == 0:
        raise AudioError("WAV fmt chunk has zero channels")
    if rate == 0:
        raise AudioError("WAV fmt chunk has zero sample rate")
    fmt = _Fmt(tag, channels, rate, byte_rate, align, bits)
    extra = struct.unpack_from("<H", body, 16)[0] if len(body) >= 18 else 0
    if tag == _GSM and extra >= 2 and len(body) >= 20:
        fmt.samples_per_block = struct.unpack_from("<H", body, 18)[0]
    if tag == _EXTENSIBLE:
        if extra < 22 or len(body) < 40:
            raise AudioError("WAV extensible fmt chunk truncated")
        fmt.tag = struct.unpack_from("<H", body, 24)[0]  # the sub-format GUID's first field
    return fmt


def _wav_codec(fmt: _Fmt) -> str:
    if fmt.tag == _PCM:
        if fmt.bits == 8:
            return "pcm_u8"
        if fmt.bits not in (16, 24, 32):
            raise AudioError("WAV PCM has an unsupported sample size")
        return f"pcm_s{fmt.bits}le"
    if fmt.tag == _FLOAT:
        if fmt.bits not in (32, 64):
            raise AudioError("WAV float has an unsupported sample size")
        return f"pcm_f{fmt.bits}le"
    return _WAV_CODECS.get(fmt.tag, f"wav_0x{fmt.tag:04x}")


def _wav_data_size(riff: _Riff, offset: int, size: int) -> tuple[int, bool]:
    """The data chunk's real size, and whether it came from the file size (a stale header)."""
    available = max(size - offset, 0)
    declared = riff.data_size or 0
    if declared == _UNSET and riff.ds64_data_size is not None:
        declared = riff.ds64_data_size
    # A header still being written: sizes left unset, zero while the RIFF size is unset too,
    # or claiming more than the file holds. The file size is the truth then.
    unfinished = declared == 0 and riff.riff_size in (0, _UNSET) and available > 0
    if declared == _UNSET or declared > available or unfinished:
        return available, True
    return declared, False


def _wav_seconds(fmt: _Fmt, data_size: int, fact_samples: int | None) -> float | None:
    if fmt.tag == _GSM:
        if fact_samples:  # exact: the last block is only partly audio
            return fact_samples / fmt.rate
        per_block = fmt.samples_per_block or 320
        return data_size // (fmt.block_align or 65) * per_block / fmt.rate
    if fmt.tag in (_PCM, _FLOAT, 0x0006, 0x0007):
        align = fmt.block_align or fmt.channels * max(fmt.bits // 8, 1)
        return data_size // align / fmt.rate
    if fact_samples:  # other compressed codecs: the fact chunk counts samples per channel
        return fact_samples / fmt.rate
    if fmt.byte_rate:
        return data_size / fmt.byte_rate
    return None


# ---------------------------------------------------------------- MP3

_MP3_BITRATES = {  # kbit/s by bitrate index; index 0 (free format) and 15 are not allowed
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


@dataclass(frozen=True)
class _Frame:
    version: int  # the header's version bits: 3 MPEG-1, 2 MPEG-2, 0 MPEG-2.5
    bitrate: int  # bit/s
    rate: int
    channels: int
    length: int  # bytes, header included
    samples: int  # per frame

    def same_stream(self, other: _Frame) -> bool:
        return (self.version, self.rate) == (other.version, other.rate)


def _mp3_header(buf: bytes, pos: int) -> _Frame | None:
    """A layer III frame header at ``pos``, or None."""
    if pos + 4 > len(buf) or buf[pos] != 0xFF or buf[pos + 1] & 0xE0 != 0xE0:
        return None
    b1, b2, b3 = buf[pos + 1], buf[pos + 2], buf[pos + 3]
    version, layer = (b1 >> 3) & 3, (b1 >> 1) & 3
    bitrate_index, rate_index = b2 >> 4, (b2 >> 2) & 3
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    if b3 & 3 == 2:  # reserved emphasis
        return None
    mpeg1 = version == 3
    bitrate = _MP3_BITRATES[1 if mpeg1 else 2][bitrate_index] * 1000
    rate = _MP3_RATES[version][rate_index]
    padding = (b2 >> 1) & 1
    length = (144 if mpeg1 else 72) * bitrate // rate + padding
    channels = 1 if b3 >> 6 == 3 else 2
    return _Frame(version, bitrate, rate, channels, length, 1152 if mpeg1 else 576)


def _skip_id3v2(head: bytes, size: int) -> int:
    """Offset after any ID3v2 tags (a file may carry several)."""
    pos = 0
    while head[pos:pos + 3] == b"ID3":
        if pos + 10 > len(head):
            raise AudioError("MP3 ID3v2 tag truncated")
        raw = head[pos + 6:pos + 10]
        if any(b & 0x80 for b in raw):
            raise AudioError("MP3 ID3v2 tag size is invalid")
        tag_size = (raw[0] << 21) | (raw[1] << 14) | (raw[2] << 7) | raw[3]
        footer = 10 if head[pos + 5] & 0x10 else 0
        pos += 10 + tag_size + footer
        if pos >= size:
            raise AudioError("MP3 has no audio after its ID3v2 tag")
        if pos >= len(head):
            raise AudioError("MP3 ID3v2 tag is larger than the probed bytes")
    return pos


def _probe_mp3(head: bytes, size: int, *, tagged: bool) -> AudioInfo | None:
    """None when no frame is found, unless an ID3v2 tag said this is MP3."""
    start = _skip_id3v2(head, size)
    found = _first_frame(head, size, start)
    if found is None:
        if tagged:
            raise AudioError("MP3 has no valid frame header")
        return None
    pos, frame = found
    frames = _vbr_frames(head, pos, frame)
    if frames is not None:
        seconds = frames * frame.samples / frame.rate
    else:
        audio_bytes = size - pos - (128 if _has_id3v1(head, size) else 0)
        seconds = max(audio_bytes, 0) * 8 / frame.bitrate
    return AudioInfo("mp3", "mp3", frame.rate, frame.channels, seconds, None)


def _first_frame(head: bytes, size: int, start: int) -> tuple[int, _Frame] | None:
    """The first header that more of the same stream follows (no false syncs): one more
    right where the frames should start, two more after junk."""
    pos = head.find(b"\xff", start)
    while pos != -1:
        frame = _mp3_header(head, pos)
        chain = 2 if pos == start else 3
        if frame is not None and _chain_holds(head, size, pos, frame, chain):
            return pos, frame
        pos = head.find(b"\xff", pos + 1)
    return None


def _chain_holds(head: bytes, size: int, pos: int, frame: _Frame, chain: int) -> bool:
    for _ in range(chain - 1):
        nxt = pos + frame.length
        if nxt >= len(head):  # the file (or what we can see of it) ends here
            return nxt <= size
        following = _mp3_header(head, nxt)
        if following is None or not following.same_stream(frame):
            return False
        pos, frame = nxt, following
    return True


def _vbr_frames(head: bytes, pos: int, frame: _Frame) -> int | None:
    """The frame count a Xing/Info or VBRI header in the first frame gives, if any."""
    mono = frame.channels == 1
    side = (17 if mono else 32) if frame.version == 3 else (9 if mono else 17)
    xing = pos + 4 + side
    if head[xing:xing + 4] in (b"Xing", b"Info") and xing + 12 <= len(head):
        flags = struct.unpack_from(">I", head, xing + 4)[0]
        if flags & 1:
            return struct.unpack_from(">I", head, xing + 8)[0] or None
        return None
    vbri = pos + 4 + 32
    if head[vbri:vbri + 4] == b"VBRI" and vbri + 18 <= len(head):
        return struct.unpack_from(">I", head, vbri + 14)[0] or None
    return None


def _has_id3v1(head: bytes, size: int) -> bool:
    """Only knowable when the head is the whole file."""
    return len(head) >= size >= 128 and head[size - 128:size - 125] == b"TAG"


# ---------------------------------------------------------------- raw GSM 6.10

_GSM_FRAME, _GSM_SAMPLES, _GSM_RATE = 33, 160, 8000
_GSM_MIN_FRAMES = 4  # random bytes pass one frame check in 16


def _probe_gsm(head: bytes, size: int, ext: str) -> AudioInfo | None:
    """Raw GSM frames each start with the 0xD signature nibble; check every one we can see."""
    whole = len(head) // _GSM_FRAME
    if whole == 0:
        return None
    # Without the extension, ask for whole frames and enough of them that chance won't pass
    if ext != "gsm" and (size % _GSM_FRAME or whole < _GSM_MIN_FRAMES):
        return None
    if any(head[i * _GSM_FRAME] >> 4 != 0xD for i in range(whole)):
        if ext == "gsm":
            raise AudioError("GSM frame signature missing")
        return None
    seconds = size // _GSM_FRAME * _GSM_SAMPLES / _GSM_RATE
    return AudioInfo("gsm", "gsm", _GSM_RATE, 1, seconds, None)
