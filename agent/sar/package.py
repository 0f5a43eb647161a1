"""Build the SAR (access) or portability package: one zip, every member hashed and signed.

Built from the export JSON the workflow writes (``{"request", "type", "systems": {system:
{table: [rows]}}}``). Members: ``cover.html`` (access only), ``data.json``, ``csv/SYSTEM/
TABLE.csv``, ``files/SYSTEM/PATH`` (documents and recordings after review), ``review.json``,
``manifest.json`` (SHA-256 of every other member) and ``manifest.jws`` (detached JWS over
the manifest's RFC 8785 form, signed like receipts).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.exporters import Exporter
from agent.jws import canonical, sign_detached
from agent.policy import Policy
from agent.sar.cover import PackageError, groups_found, render_cover, require_facts
from agent.sar.decisions import Decision
from agent.sar.redact import Reviewed, SubjectIds, review_table, subject_ids

# Groups whose data the person did not provide (derived, or from other sources): left out
# of a portability package (UK GDPR Art 20 covers data "provided" by the person).
NOT_PROVIDED_GROUPS = frozenset({"Financial", "Open Data and Public Records"})
PACKAGE_TYPES = ("access", "portability")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # members carry no clock: same input, same bytes


def build_package(export_doc: Mapping[str, Any], request: Any, policy: Policy | None,
                  signing: Any, decisions: Mapping[str, Decision] | None = None,
                  exporters: Sequence[Exporter] = ()) -> bytes:
    """The zip for ``request`` from its export document; ``signing`` is a SigningKeys.
    ``decisions`` (item -> Decision): disclosed items go in unredacted, withheld ones are
    listed with the reason; items with no decision stay withheld, pending review.
    ``exporters`` (registered by plugins) each add the reviewed rows in their format as
    ``formats/data-NAME.EXT``, listed and hashed in the manifest like every member."""
    kind = _kind(export_doc, request)
    if policy is None:
        raise PackageError("no policy.toml: the package needs the controller's facts")
    if kind == "access":
        require_facts(policy)
    systems = _systems(export_doc)
    if kind == "portability":
        systems = _provided(systems, policy)
    decisions = decisions or {}
    reviewed = _review(systems, frozenset(i for i, d in decisions.items()
                                          if d.decision == "disclose"))
    generated = datetime.now(UTC).replace(microsecond=0).isoformat()
    members: dict[str, bytes] = {}
    if kind == "access":
        withheld = sum(len(r.withheld) for r in reviewed.values())
        members["cover.html"] = render_cover(request, policy, groups_found(systems, policy),
                                             withheld, generated).encode("utf-8")
    members.update(_data_members(request, kind, reviewed, generated))
    members.update(_format_members(reviewed, exporters))
    members["review.json"] = _json(_review_doc(request, reviewed, decisions))
    manifest = _manifest(request, kind, members, generated, signing)
    members["manifest.json"] = _json(manifest)
    kid, key = signing.active()
    members["manifest.jws"] = sign_detached(canonical(manifest), kid, key).encode("ascii")
    return _zip(members)


def _kind(export_doc: Mapping[str, Any], request: Any) -> str:
    if not isinstance(export_doc, Mapping) or not isinstance(export_doc.get("systems"),
                                                               Mapping):
        raise PackageError("the export document has no systems table: not an export")
    if export_doc.get("request") not in (None, request.id):
        raise PackageError("the export document belongs to another request")
    if request.type not in PACKAGE_TYPES:
        raise PackageError(f"a {request.type} request has no package; only "
                           f"{', '.join(PACKAGE_TYPES)}")
    return str(request.type)


def _systems(export_doc: Mapping[str, Any]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for system, tables in export_doc["systems"].items():
        if not isinstance(tables, Mapping):
            raise PackageError(f"export system {str(system)[:64]!r} is not a table map")
        out[str(system)] = {str(t): [r if isinstance(r, dict) else {"value": r} for r in rows]
                            for t, rows in tables.items() if isinstance(rows, list)}
    return out


def _provided(systems: dict[str, dict[str, list[dict[str, Any]]]], policy: Policy
              ) -> dict[str, dict[str, list[dict[str, Any]]]]:
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for system, tables in systems.items():
        for table, rows in tables.items():
            matched = policy.rule_for(system, table)
            if matched is None or matched[0].name not in NOT_PROVIDED_GROUPS:
                out.setdefault(system, {})[table] = rows
    return out


def _review(systems: Mapping[str, Mapping[str, list[dict[str, Any]]]],
            disclosed: frozenset[str] = frozenset()) -> dict[tuple[str, str], Reviewed]:
    subject: SubjectIds = subject_ids(r for t in systems.values() for rows in t.values()
                                      for r in rows)
    return {(system, table): review_table(system, table, rows, subject, disclosed)
            for system, tables in sorted(systems.items())
            for table, rows in sorted(tables.items())}


def _review_doc(request: Any, reviewed: Mapping[tuple[str, str], Reviewed],
                decisions: Mapping[str, Decision]) -> dict[str, Any]:
    """review.json: withheld (with the decision's reason, or pending), disclosed (with the
    consent note) and redacted (field and count)."""
    withheld = []
    for entry in (w for r in reviewed.values() for w in r.withheld):
        decided = decisions.get(entry["item"])
        if decided is not None and decided.decision == "withhold":
            entry = {**entry, "flagged": entry["reason"], "reason": decided.note,
                     "decision": "withheld", "decided_by": decided.by,
                     "decided_at": decided.at.isoformat()}
        withheld.append(entry)
    disclosed = [{**d, "decision": "disclosed with consent",
                  "consent": decisions[d["item"]].note, "decided_by": decisions[d["item"]].by,
                  "decided_at": decisions[d["item"]].at.isoformat()}
                 for r in reviewed.values() for d in r.disclosed]
    return {"request": request.id, "withheld": withheld, "disclosed": disclosed,
            "redacted": [x for r in reviewed.values() for x in r.redactions]}


def review_items(export_doc: Mapping[str, Any], request: Any, policy: Policy | None
                 ) -> list[dict[str, Any]]:
    """What the package would withhold for a person's decision: item, system, table and
    why (never values). Needs no controller facts."""
    kind = _kind(export_doc, request)
    systems = _systems(export_doc)
    if kind == "portability" and policy is not None:
        systems = _provided(systems, policy)
    return [{"item": w["item"], "system": w["system"], "table": w["table"],
             "why": w["reason"]}
            for r in _review(systems).values() for w in r.withheld]


def read_export(request: Any) -> dict[str, Any]:
    """The export JSON a run wrote (``request.result["export"]``)."""
    path = (request.result or {}).get("export")
    if not path:
        raise PackageError(f"request {request.id} has no export yet: approve and run it "
                           "first (dsr request run)")
    try:
        return dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise PackageError(f"request {request.id}'s export file is gone (removed after "
                           "its retention?): run the request again") from None
    except (OSError, ValueError, TypeError) as exc:
        raise PackageError(f"request {request.id}'s export file cannot be read: "
                           f"{type(exc).__name__}") from None


def _data_members(request: Any, kind: str, reviewed: Mapping[tuple[str, str], Reviewed],
                  generated: str) -> dict[str, bytes]:
    """data.json, a CSV per table and the files, with rows pointing at their file."""
    members: dict[str, bytes] = {}
    data: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for (system, table), result in reviewed.items():
        names = {path: _member("files", system, path) for path, _ in result.files}
        for path, content in result.files:
            members[names[path]] = content
        rows = [_point(row, names) for row in result.rows]
        data.setdefault(system, {})[table] = rows
        if rows:
            members[_member("csv", system, table) + ".csv"] = _csv(rows)
    members["data.json"] = _json({"request": request.id, "type": kind,
                                  "generated_at": generated, "systems": data})
    return members


def _format_members(reviewed: Mapping[tuple[str, str], Reviewed],
                    exporters: Sequence[Exporter]) -> dict[str, bytes]:
    """The reviewed rows (each with its ``system`` and ``table``) in every extra format."""
    if not exporters:
        return {}
    records = [{"system": system, "table": table, **row}
               for (system, table), result in sorted(reviewed.items()) for row in result.rows]
    members: dict[str, bytes] = {}
    for exporter in exporters:
        with tempfile.TemporaryDirectory(prefix="dsr-format-") as folder:
            try:
                written = Path(exporter.write(iter(records), Path(folder)))
                if not written.resolve().is_relative_to(Path(folder).resolve()):
                    raise PackageError(f"exporter {exporter.name!r} returned a file outside "
                                       "the folder it was given")
                content = written.read_bytes()
            except PackageError:
                raise
            except Exception as exc:  # a plugin's failure: name it, quote nothing
                raise PackageError(f"exporter {exporter.name!r} failed: "
                                   f"{type(exc).__name__}") from None
        members[f"formats/data-{_UNSAFE.sub('_', exporter.name)}{exporter.extension}"] = content
    return members


def _point(row: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """A row's ``file`` (and its recordings') names the package member, not the source."""
    out = dict(row)
    if out.get("file") in names:
        out["file"] = names[out["file"]]
    if isinstance(out.get("audio"), list):
        out["audio"] = [{**a, "file": names.get(a["file"], a["file"])}
                        if isinstance(a, dict) and "file" in a else a for a in out["audio"]]
    return out


def _member(folder: str, system: str, path: str) -> str:
    """A safe zip member name: no absolute paths, no ``..``, tame characters."""
    parts = [_UNSAFE.sub("_", p) for p in path.replace("\\", "/").split("/")
             if p not in ("", ".", "..")]
    return "/".join([folder, _UNSAFE.sub("_", system) or "system", *(parts or ["unnamed"])])


def _csv(rows: Sequence[Mapping[str, Any]]) -> bytes:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buffer.getvalue().encode("utf-8")


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return "" if value is None else value


def _json(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)
            + "\n").encode("utf-8")


def _manifest(request: Any, kind: str, members: Mapping[str, bytes], generated: str,
              signing: Any) -> dict[str, Any]:
    return {"request": request.id, "type": kind, "generated_at": generated,
            "kid": signing.active_kid(), "algorithm": "sha256",
            "members": [{"name": name, "size": len(content),
                         "sha256": hashlib.sha256(content).hexdigest()}
                        for name, content in sorted(members.items())]}


def _zip(members: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(zipfile.ZipInfo(name, _FIXED_TIME), content,
                             compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def encrypt_zip(package: bytes, passphrase: str) -> bytes:
    """The same members in an AES-256 zip (WinZip AE-2) that opens with ``passphrase``."""
    import pyzipper

    if not passphrase:
        raise PackageError("the passphrase is empty")
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(package)) as source, pyzipper.AESZipFile(
            buffer, "w", compression=pyzipper.ZIP_DEFLATED,
            encryption=pyzipper.WZ_AES) as target:
        target.setpassword(passphrase.encode("utf-8"))
        target.setencryption(pyzipper.WZ_AES, nbits=256)
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
    return buffer.getvalue()


def encrypt_age(package: bytes, recipient: str) -> bytes:
    """The whole zip encrypted to an age recipient (``age1...``)."""
    import pyrage

    try:
        key = pyrage.x25519.Recipient.from_str(recipient.strip())
    except Exception:
        raise PackageError("not an age recipient: expected an age1... public key") from None
    return bytes(pyrage.encrypt(package, [key]))
