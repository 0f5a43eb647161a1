"""The recordings connector's options from a ``[[systems]]`` table, validated up front.

``url`` is where the audio lives (file://, sftp://, smb:// or s3://), ``layout`` how calls
are described, ``cdr`` where the call records are. Connection settings of the audio store
(the files transports' keys, or the s3 connector's) sit in the same table and also reach a
Connect layout's contact-record store. Errors name ``systems.NAME.KEY``, never a value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.config import SystemConfig
from agent.errors import ConfigError
from agent.identifiers import phone_e164
from agent.option_values import number, text_list
from connectors.files.transports import TRANSPORT_KEYS
from connectors.recordings.store import FILE_SCHEMES, scheme_of
from connectors.s3.options import OPTIONS as S3_OPTIONS

LAYOUTS = ("asterisk", "connect", "sidecar")
OPTIONS = {
    "layout": "how calls are described: \"asterisk\" (CDR table or CSV + audio tree), "
              "\"connect\" (contact records + CallRecordings objects) or \"sidecar\" (a JSON "
              "file beside each recording; the default without cdr)",
    "cdr": "asterisk: the CDR's SQLAlchemy URL or CSV file; connect: the file/s3 URL of the "
           "contact records",
    "cdr_table": "the CDR table (default \"cdr\"; schema.table allowed)",
    "our_numbers": "the business's own numbers (switchboard, DDIs, staff phones): a party on "
                   "one is our staff, not a third person",
    "shared_numbers": "numbers known to be shared by several people (a customer's "
                      "switchboard, a household landline): matches on them are weak",
    "extension_digits": "internal extensions have at most this many digits (default 6): a "
                        "party on one is our staff",
    "copies": "folders or key prefixes of further copies of the audio (transcoded, "
              "redacted, analysis), relative to url; {date} stands for a call's YYYY/MM/DD",
    "transcripts": "search the speech of recordings for the request's numbers and account "
                   "ids, and export transcripts (needs the pocketsphinx package; default "
                   "false)",
    "loose_numbers": "compare numbers with spaces, dashes, dots, brackets removed: finds "
                     "numbers stored formatted, at the cost of a full scan (a SQL CDR; "
                     "default false)",
    "max_audio_bytes": "recordings larger than this are listed in an export, not copied "
                       "into it (default 256 MiB)",
}


@dataclass
class RecordingsOptions:
    system: str
    url: str = ""
    layout: str = "sidecar"
    cdr: str | None = None
    cdr_table: str = "cdr"
    our_numbers: frozenset[str] = frozenset()  # E.164
    shared_numbers: frozenset[str] = frozenset()  # E.164
    extension_digits: int = 6
    copies: tuple[str, ...] = ()
    transcripts: bool = False
    loose_numbers: bool = False
    max_audio_bytes: int = 256 << 20
    store_options: dict[str, Any] = field(default_factory=dict)

    def error(self, message: str, key: str) -> ConfigError:
        return ConfigError(f"system {self.system!r}: {message}",
                           key=f"systems.{self.system}.{key}")


def parse_options(system: SystemConfig) -> RecordingsOptions:
    opts = RecordingsOptions(system=system.name, url=system.url)
    raw = dict(system.options)
    scheme = scheme_of(system.url)
    if scheme not in (*FILE_SCHEMES, "s3"):
        raise opts.error("url is where the audio lives: file://, sftp://, smb:// or s3://",
                         "url")
    store_keys = set(S3_OPTIONS) if scheme == "s3" else set(TRANSPORT_KEYS)
    unknown = sorted(set(raw) - set(OPTIONS) - store_keys)
    if unknown:
        raise opts.error(f"unknown option(s) {unknown}; the recordings connector knows "
                         f"{sorted(OPTIONS)} and the {scheme}:// store's connection "
                         "settings", unknown[0])
    opts.store_options = {k: v for k, v in raw.items() if k in store_keys}
    cdr = raw.get("cdr")
    if cdr is not None and (not isinstance(cdr, str) or not cdr.strip()):
        raise opts.error("must be a SQL URL, a CSV path or a file/s3 URL", "cdr")
    opts.cdr = cdr.strip() if isinstance(cdr, str) else None
    layout = raw.get("layout", "asterisk" if opts.cdr else "sidecar")
    if layout not in LAYOUTS:
        raise opts.error(f"must be one of {list(LAYOUTS)}", "layout")
    opts.layout = layout
    if layout in ("asterisk", "connect") and not opts.cdr:
        what = ("the CDR's SQL URL or CSV file" if layout == "asterisk"
                else "the file or s3 URL of the contact records")
        raise opts.error(f"layout {layout!r} needs cdr = {what}", "cdr")
    if layout == "sidecar" and opts.cdr:
        raise opts.error("layout \"sidecar\" reads the JSON beside each recording: remove "
                         "cdr, or set layout", "cdr")
    if layout == "connect" and scheme_of(opts.cdr or "") not in (*FILE_SCHEMES, "s3"):
        raise opts.error("for layout \"connect\" cdr is a file://, sftp://, smb:// or s3:// "
                         "URL of the contact records", "cdr")
    table = raw.get("cdr_table", "cdr")
    if not isinstance(table, str) or not table.strip():
        raise opts.error("must be a table name", "cdr_table")
    opts.cdr_table = table.strip()
    opts.our_numbers = _numbers(opts, raw, "our_numbers")
    opts.shared_numbers = _numbers(opts, raw, "shared_numbers")
    opts.extension_digits = int(number(opts, raw.get("extension_digits", 6), 0, 8,
                                       "extension_digits", whole=True))
    copies = text_list(opts, raw.get("copies", []), "copies",
                       what="a folder or key prefix, or a list of them")
    for copy in copies:
        if copy.startswith("/") or ".." in copy.split("/"):
            raise opts.error("must be relative to url, without '..'", "copies")
    opts.copies = tuple(c.strip("/") for c in copies)
    transcripts = raw.get("transcripts", False)
    if not isinstance(transcripts, bool):
        raise opts.error("must be true or false", "transcripts")
    opts.transcripts = transcripts
    loose = raw.get("loose_numbers", False)
    if not isinstance(loose, bool):
        raise opts.error("must be true or false", "loose_numbers")
    opts.loose_numbers = loose
    opts.max_audio_bytes = int(number(opts, raw.get("max_audio_bytes", 256 << 20), 1, 1 << 40,
                                      "max_audio_bytes", whole=True))
    return opts


def _numbers(opts: RecordingsOptions, raw: dict[str, Any], key: str) -> frozenset[str]:
    out = set()
    for value in text_list(opts, raw.get(key, []), key, what="a phone number or a list"):
        e164 = phone_e164(value)
        if e164 is None:
            raise opts.error("holds a value that is not a possible phone number", key)
        out.add(e164)
    return frozenset(out)
