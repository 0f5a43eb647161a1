"""What an access export holds of a call: its records as JSON and CSV, each copy of its audio
(bytes, format and duration read from the audio itself) and, with transcripts on, what is
said in it."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from collections.abc import Sequence
from typing import Any

from agent.models import Finding
from connectors.recordings import media
from connectors.recordings.layout import Layout, contains_id, extension_of
from connectors.recordings.model import Call, Leg
from connectors.recordings.options import RecordingsOptions
from connectors.recordings.spoken import SpokenSearch
from connectors.sql.values import json_safe


class CallExport:
    def __init__(self, options: RecordingsOptions, layout: Layout,
                 spoken: SpokenSearch | None) -> None:
        self.options = options
        self.layout = layout
        self.spoken = spoken

    def content(self, finding: Finding, call: Call) -> dict[str, Any]:
        audio = [self._audio(path) for path in call.audio]
        legs = [json_safe(leg.fields) for leg in call.legs]
        durations = [a.get("duration_seconds") for a in audio if a.get("duration_seconds")]
        summary = {"recording_id": call.id, "call": call.group,
                   "started": json_safe(call.started), "legs": len(legs),
                   "audio_files": len(audio),
                   "duration_seconds": max(durations) if durations else None,
                   "format": audio[0].get("format") if audio else None}
        metadata = {"recording_id": call.id, "call": call.group, "legs": legs,
                    "audio": [{k: v for k, v in a.items() if k != "content_base64"}
                              for a in audio],
                    "missing_audio": call.missing_audio}
        out: dict[str, Any] = {
            "finding": finding.id, "table": "calls", "recording_id": call.id,
            "row": summary, "legs": legs, "audio": audio,
            "missing_audio": call.missing_audio,
            "metadata_json": json.dumps(metadata, indent=2, sort_keys=True),
            "metadata_csv": _legs_csv(legs, [self._own_audio(call, leg, audio)
                                             for leg in call.legs]),
        }
        if finding.review:
            out["disclosure_review"] = True
            out["reason"] = finding.review
        if self.spoken is not None:
            out["transcripts"] = self._transcripts(call)
        return out

    def _transcripts(self, call: Call) -> list[dict[str, Any]]:
        """What is said in each recording of the call (copies with the same speech once)."""
        assert self.spoken is not None
        store, out, said = self.layout.audio, [], set()
        for path in call.audio:
            entry = store.stat(path)
            transcript = self.spoken.transcript(store, entry) if entry else None
            if transcript is None or transcript.text in said:
                continue
            said.add(transcript.text)
            out.append({"path": path, **transcript.public()})
        return out

    def _own_audio(self, call: Call, leg: Leg, audio: Sequence[dict[str, Any]]
                   ) -> dict[str, Any]:
        """The recording of this leg (the one its record names, else one whose name carries
        its id), else the call's longest: what the leg's CSV row says of the audio."""
        named = set(self.layout.expected_audio(leg))
        for copy in audio:
            if copy["path"] in named:
                return copy
        for copy in audio:
            if leg.id and contains_id(copy["path"].rsplit("/", 1)[-1], leg.id):
                return copy
        timed = [a for a in audio if a.get("duration_seconds")]
        return max(timed, key=lambda a: a["duration_seconds"]) if timed else {}

    def _audio(self, path: str) -> dict[str, Any]:
        """One copy: its bytes (up to ``max_audio_bytes``) and what they are."""
        store = self.layout.audio
        entry = store.stat(path)
        if entry is None:
            return {"path": path, "missing": True}
        out: dict[str, Any] = {"path": path, "size": entry.size}
        with store.open_read(path) as stream:
            head = stream.read(media.HEAD_BYTES)
            digest = hashlib.sha256(head)
            inline = entry.size <= self.options.max_audio_bytes
            chunks = [head] if inline else []
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
                if inline:
                    chunks.append(chunk)
        try:
            out.update(media.probe(head, entry.size, path.rsplit("/", 1)[-1]).public())
        except media.AudioError as exc:
            out["format"] = extension_of(path) or None
            out["problem"] = str(exc)
        out["sha256"] = digest.hexdigest()
        if inline:
            out["content_base64"] = base64.b64encode(b"".join(chunks)).decode("ascii")
        else:
            out["inline"] = False
            out["reason"] = "larger than max_audio_bytes: copy it from the store by its path"
        return out


def _legs_csv(legs: Sequence[dict[str, Any]], audio: Sequence[dict[str, Any]]) -> str:
    """One row per leg (nested values as JSON) with its recording's format and duration
    (``audio[i]`` is leg i's): the export's CSV of the call."""
    columns: dict[str, None] = {}
    for leg in legs:
        columns.update(dict.fromkeys(leg))
    extra = ["audio_format", "audio_duration_seconds"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*columns, *extra])
    for leg, own in zip(legs, audio, strict=True):
        cells = [leg.get(c) for c in columns]
        writer.writerow([json.dumps(c) if isinstance(c, dict | list) else
                         ("" if c is None else c) for c in cells]
                        + [own.get("format") or "", own.get("duration_seconds") or ""])
    return buffer.getvalue()
