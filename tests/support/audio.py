"""Real, valid audio for tests: tones from the stdlib, speech from espeak-ng, conversions by sox.

Every file here is made up; speech says only the text a test passes in.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from agent.demo.calls import tone_wav

# tool -> the Debian package that ships it
_PACKAGES = {"sox": "sox", "soxi": "sox", "espeak-ng": "espeak-ng"}


def wav_bytes(seconds: float = 1.0, *, rate: int = 8000, channels: int = 1,
              tone_hz: int = 440) -> bytes:
    """A 16-bit PCM WAV of a sine tone, ``round(seconds * rate)`` frames long."""
    return tone_wav(seconds, rate=rate, channels=channels, tone_hz=tone_hz)


def speech_wav(text: str, path: Path, *, rate: int = 16000, voice: str | None = None
               ) -> Path:
    """``text`` spoken by espeak-ng (``voice``, e.g. ``en-us+klatt``, whose digits speech
    recognition hears best), as a mono 16-bit WAV at ``rate`` (sox resamples, without
    random dither so the file is the same every run)."""
    espeak, sox = _tool("espeak-ng"), _tool("sox")
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        raw = Path(tmp) / "speech.wav"
        _run([espeak, *(["-v", voice] if voice else []), "--stdin", "-w", str(raw)],
             stdin=text)
        _run([sox, "-R", str(raw), "-r", str(rate), "-c", "1", "-b", "16", "-e",
              "signed-integer", str(path)])
    return path


def convert(src: Path, dst: Path, *, encoding: str | None = None) -> Path:
    """``src`` converted by sox to the format ``dst``'s extension names: ``.gsm`` (raw GSM
    6.10, 8 kHz mono), ``.wav`` or ``.mp3``. ``encoding`` is sox's ``-e`` for the output
    (``u-law``, ``a-law``, ``gsm-full-rate`` for a WAV49 ``.wav``); the telephone codecs
    get 8 kHz mono as a PBX writes them."""
    sox = _tool("sox")
    ext = dst.suffix.lower()
    if ext not in (".gsm", ".wav", ".mp3"):
        raise ValueError(f"convert() writes .gsm, .wav or .mp3, not {ext or 'no extension'}")
    if ext == ".mp3" and not sox_can_write("mp3"):
        raise RuntimeError("this sox cannot write MP3: install the Debian package "
                           "libsox-fmt-mp3")
    out: list[str] = []
    if ext == ".gsm" or encoding in ("u-law", "a-law", "gsm-full-rate"):
        out += ["-r", "8000", "-c", "1"]
    if encoding:
        out += ["-e", encoding]
    _run([sox, str(src), *out, str(dst)])
    return dst


def sox_can_write(fmt: str) -> bool:
    """Whether this sox lists ``fmt`` among its AUDIO FILE FORMATS."""
    help_text = _run([_tool("sox"), "-h"], check=False)
    for line in help_text.splitlines():
        if line.startswith("AUDIO FILE FORMATS:"):
            return fmt in line.split(":", 1)[1].split()
    return False


def soxi_seconds(path: Path) -> float:
    """The duration sox reads from ``path`` (``soxi -D``)."""
    return float(_run([_tool("soxi"), "-D", str(path)]).strip())


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: install the Debian package {_PACKAGES[name]}")
    return found


def _run(cmd: list[str], *, stdin: str | None = None, check: bool = True) -> str:
    done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60,
                          check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} failed ({done.returncode}): "
                           f"{done.stderr.strip()[:300]}")
    return done.stdout
