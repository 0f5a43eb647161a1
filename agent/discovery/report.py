"""The one-page HTML report of a sweep's data map, for a DPO to read or print.

Rendered from :class:`~agent.discovery.datamap.DataMap` fields only (places, data groups,
detectors and counts), so it can hold no personal value. Names of places come from
databases, file systems and buckets and are untrusted: every text goes through
``html.escape`` and none lands in an attribute. The page is one self-contained file: inline
CSS, no script, nothing fetched, and a Content-Security-Policy saying so in case a browser
ever meets markup that slipped through.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from html import escape
from typing import Any

from agent.discovery.datamap import CONFIDENCE_ORDER, DataMap, Entry, SystemSummary, Unreadable

DEFAULT_TITLE = "Personal data map"
# How each kind of place is grouped for reading: columns under their table, files and
# recordings under their folder, objects under their prefix.
KIND_ORDER = {"column": 0, "file": 1, "recording": 2, "object": 3}
GROUP_LABEL = {"column": "Table", "file": "Folder", "recording": "Folder", "object": "Prefix"}
PLACE_LABEL = {"column": "Column", "file": "File", "recording": "Recording", "object": "Object"}
TOP_LEVEL = "(top level)"
STATUS_CLASS = {"ok": "ok", "failed": "failed", "skipped": "skipped"}

# No script, no fetch of any kind: styles inline only.
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  color: #1b1b1b; background: #fff; margin: 0 auto; max-width: 72rem; padding: 1.5rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .5rem; border-bottom: 2px solid #333;
  padding-bottom: .2rem; }
h3 { font-size: 1.1rem; margin: 1.5rem 0 .4rem; }
h4 { font-size: .95rem; margin: 1rem 0 .3rem; color: #333; }
p { margin: .3rem 0 .6rem; }
.meta { color: #444; }
.lede { font-size: 1.05rem; font-weight: 600; }
.note { color: #444; font-style: italic; }
table { border-collapse: collapse; width: 100%; margin: .3rem 0 .8rem; }
th, td { border: 1px solid #bbb; padding: .25rem .45rem; text-align: left;
  vertical-align: top; }
thead th { background: #eee; }
table.places, table.gap, table.unread { table-layout: fixed; }
.places th:nth-child(1) { width: 22%; } .places th:nth-child(2) { width: 15%; }
.places th:nth-child(3) { width: 20%; } .places th:nth-child(4) { width: 12%; }
.places th:nth-child(5) { width: 14%; } .places th:nth-child(6) { width: 17%; }
.places td.num { white-space: normal; }
.gap th:nth-child(1), .unread th:nth-child(1) { width: 11%; }
.gap th:nth-child(2) { width: 24%; } .unread th:nth-child(2) { width: 32%; }
.gap th:nth-child(3), .unread th:nth-child(3) { width: 8%; }
.gap th:nth-child(4) { width: 14%; } .gap th:nth-child(5) { width: 12%; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.name { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
  font-size: .9em; overflow-wrap: anywhere; }
.conf, .status, .flag { display: inline-block; padding: 0 .4rem; border-radius: .2rem;
  border: 1px solid; font-size: .85em; font-weight: 600; white-space: nowrap; }
.conf-high { background: #fde2e1; border-color: #b42318; color: #7a1711; }
.conf-medium { background: #fff1d6; border-color: #b54708; color: #7a2e0e; }
.conf-low { background: #eef2f6; border-color: #697586; color: #364152; font-weight: 400; }
.status-ok { background: #e3f4e8; border-color: #2f7d45; color: #1d5a30; }
.status-failed { background: #fde2e1; border-color: #b42318; color: #7a1711; }
.status-skipped, .status-other { background: #eef2f6; border-color: #697586; color: #364152; }
.flag { background: #fff; border-color: #b42318; color: #7a1711; font-weight: 400;
  white-space: normal; }
.error { color: #7a1711; }
footer { margin-top: 2rem; border-top: 1px solid #bbb; padding-top: .5rem; color: #444;
  font-size: .85rem; }
@page { margin: 14mm; }
@media print {
  body { font-size: 10pt; max-width: none; padding: 0; }
  h2, h3, h4 { break-after: avoid; page-break-after: avoid; }
  tr { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  .conf, .status, .flag, thead th { -webkit-print-color-adjust: exact;
    print-color-adjust: exact; }
}
"""


def render_html(datamap: DataMap, *, title: str = DEFAULT_TITLE) -> str:
    """The report as one self-contained HTML page (a str, UTF-8 when written)."""
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{_e(title)}</title>",
        f"<style>{CSS}</style>",
        "</head><body>",
        _header(datamap, title),
        _groups(datamap),
        _places(datamap),
        _coverage(datamap),
        "<footer><p>This report lists where personal data was found and how much of each "
        "sample matched. It holds no personal data values: only names of places, data "
        "groups, detectors and counts.</p></footer>",
        "</body></html>",
        "",
    ]
    return "\n".join(parts)


# --------------------------------------------------------------------------- header

def _header(datamap: DataMap, title: str) -> str:
    sweep = datamap.sweep
    has_id = sweep.get("id") not in (None, "")
    when = [f'Sweep <span class="name">{_e(sweep["id"])}</span>' if has_id else "Swept"]
    started, finished = _when(sweep.get("started")), _when(sweep.get("finished"))
    if started and finished:
        when.append(f"from {_e(started)} to {_e(finished)}")
    elif started or finished:
        when.append(f"at {_e(started or finished)}")
    meta = [" ".join(when) + "."] if has_id or len(when) > 1 else []
    full = sweep.get("full")
    if full is True:
        meta.append("Full sweep: every place was read again.")
    elif full is False:
        meta.append("Incremental sweep: only places changed since the last sweep were read.")
    out = [f"<header><h1>{_e(title)}</h1>"]
    if meta:
        out.append(f'<p class="meta">{" ".join(meta)}</p>')
    out.append(f'<p class="lede">{_e(_lede(datamap))}</p>')
    out.append(_systems_table(datamap))
    out.append("</header>")
    return "\n".join(out)


def _lede(datamap: DataMap) -> str:
    systems = _system_names(datamap)
    if not systems:
        return "No systems were swept."
    failed = sum(1 for s in datamap.systems if s.status == "failed")
    skipped = sum(1 for s in datamap.systems if s.status == "skipped")
    if not datamap.entries:
        text = f"No personal data found in {_n(len(systems) - failed - skipped, 'system')}."
    else:
        with_data = len({e.system for e in datamap.entries})
        text = (f"Personal data found in {_n(len(datamap.entries), 'place')} across "
                f"{with_data} of {_n(len(systems), 'system')}.")
    # Never let a system that was not read pass for one holding nothing.
    not_read = [f"{_n(failed, 'system')} failed"] if failed else []
    not_read += [f"{_n(skipped, 'system')} cannot be sampled"] if skipped else []
    if not_read:
        text += f" Not read: {' and '.join(not_read)}."
    gap, unreadable = len(datamap.not_searched()), len(datamap.unreadable)
    if gap:
        text += f" {_n(gap, 'place')} would not be found by a request search."
    if unreadable:
        text += f" {_n(unreadable, 'place')} could not be read."
    return text


def _systems_table(datamap: DataMap) -> str:
    if not datamap.systems:
        return ""
    places: dict[str, int] = {}
    for entry in datamap.entries:
        places[entry.system] = places.get(entry.system, 0) + 1
    rows = []
    for system in datamap.systems:
        error = (f'<br><span class="error">{_e(system.error)}</span>' if system.error
                 else "")
        rows.append(
            f'<tr><td class="name">{_e(system.name)}</td><td>{_status(system)}{error}</td>'
            f'<td class="num">{_num(system.units)}</td>'
            f'<td class="num">{_num(system.unchanged)}</td>'
            f'<td class="num">{_num(system.unreadable)}</td>'
            f'<td class="num">{_num(places.get(system.name, 0))}</td>'
            f'<td class="num">{system.seconds:,.1f}</td></tr>')
    total = sum(s.seconds for s in datamap.systems)
    return ("<h2>Systems swept</h2>\n<table><thead><tr><th>System</th><th>Status</th>"
            '<th class="num">Read</th><th class="num">Unchanged</th>'
            '<th class="num">Unreadable</th><th class="num">Places with personal data</th>'
            '<th class="num">Seconds</th></tr></thead>\n<tbody>' + "\n".join(rows)
            + f'</tbody><tfoot><tr><th colspan="6">Total time</th>'
            f'<td class="num">{total:,.1f}</td></tr></tfoot></table>'
            '\n<p class="note">Read: tables, files or objects sampled this sweep. '
            "Unchanged: not read again because they have not changed since the last "
            "sweep; what they hold is in this map.</p>")


def _status(system: SystemSummary) -> str:
    css = STATUS_CLASS.get(system.status, "other")
    return f'<span class="status status-{css}">{_e(system.status)}</span>'


# --------------------------------------------------------------------------- data groups

def _groups(datamap: DataMap) -> str:
    counts = datamap.categories()
    out = ["<section><h2>Data groups</h2>"]
    if not counts:
        out.append("<p>No personal data was found, so no data group applies.</p>")
    else:
        systems: dict[str, set[str]] = {}
        for entry in datamap.entries:
            for category in entry.categories:
                systems.setdefault(category, set()).add(entry.system)
        rows = "\n".join(
            f"<tr><td>{_e(name)}</td><td class=\"num\">{_num(count)}</td>"
            f"<td>{_e(', '.join(sorted(systems.get(name, ()))))}</td></tr>"
            for name, count in counts.items())
        out.append('<table><thead><tr><th>Data group</th><th class="num">Places</th>'
                   f"<th>Systems</th></tr></thead>\n<tbody>{rows}</tbody></table>")
        uncategorised = sum(1 for e in datamap.entries if not e.categories)
        if uncategorised:
            out.append(f'<p class="note">{_n(uncategorised, "place")} matched no data group '
                       "in policy.toml.</p>")
    out.append("</section>")
    return "\n".join(out)


# --------------------------------------------------------------------------- places

def _places(datamap: DataMap) -> str:
    out = ["<section><h2>Where personal data is, by system</h2>"]
    by_system: dict[str, list[Entry]] = {}
    for entry in datamap.sorted_entries():
        by_system.setdefault(entry.system, []).append(entry)
    summaries = {s.name: s for s in datamap.systems}
    for name in _system_names(datamap):
        entries = by_system.get(name, [])
        out.append(f'<section><h3>System <span class="name">{_e(name)}</span></h3>')
        summary = summaries.get(name)
        if not entries:
            if summary is not None and summary.status == "failed":
                out.append(f'<p class="error">Not read: {_e(_not_read(summary))}.</p>')
            elif summary is not None and summary.status == "skipped":
                out.append(f"<p>Not read: {_e(_not_read(summary))}.</p>")
            else:
                out.append("<p>No personal data found.</p>")
        else:
            out.append(f"<p>{_n(len(entries), 'place')}.</p>")
            for kind, group, items in _grouped(entries):
                out.append(_group_table(kind, group, items))
        out.append("</section>")
    out.append("</section>")
    return "\n".join(out)


def _grouped(entries: Iterable[Entry]) -> list[tuple[str, str, list[tuple[str, Entry]]]]:
    """(kind, table/folder/prefix, [(name within it, entry)]) in reading order."""
    groups: dict[tuple[str, str], list[tuple[str, Entry]]] = {}
    for entry in entries:
        group, name = _split(entry)
        groups.setdefault((entry.kind, group), []).append((name, entry))
    keys = sorted(groups, key=lambda k: (KIND_ORDER.get(k[0], 9), k[0], k[1] != TOP_LEVEL,
                                         k[1]))
    return [(kind, group, sorted(groups[(kind, group)], key=lambda i: i[0]))
            for kind, group in keys]


def _split(entry: Entry) -> tuple[str, str]:
    """A place's group (its table, folder or prefix) and its name within it."""
    container = entry.container
    if entry.kind == "column":
        # The unit is the table; a "schema.table.column" container keeps its schema.
        table = entry.unit if entry.unit and container.startswith(entry.unit + ".") \
            else container.rpartition(".")[0]
        if table:
            return table, container[len(table) + 1:]
        return TOP_LEVEL, container
    cut = max(container.rfind("/"), container.rfind("\\"))
    if cut <= 0:
        return TOP_LEVEL, container
    return container[:cut + 1], container[cut + 1:] or container


def _group_table(kind: str, group: str, items: list[tuple[str, Entry]]) -> str:
    label = GROUP_LABEL.get(kind, kind.capitalize() or "Other")
    place = PLACE_LABEL.get(kind, kind.capitalize() or "Place")
    rows = []
    for name, entry in items:
        flag = ("" if entry.searched else
                '<br><span class="flag">not searched by requests</span>')
        rows.append(
            f'<tr><td class="name">{_e(name)}{flag}</td>'
            f"<td>{_e(', '.join(entry.categories)) or '—'}</td>"
            f"<td>{_detectors(entry)}</td><td>{_confidence(entry.confidence)}</td>"
            f'<td class="num">{_sampled(entry)}</td><td class="num">{_matched(entry)}</td>'
            "</tr>")
    return (f'<h4>{_e(label)} <span class="name">{_e(group)}</span></h4>\n'
            f'<table class="places"><thead><tr><th>{_e(place)}</th><th>Data groups</th>'
            "<th>Detectors</th>"
            '<th>Confidence</th><th class="num">Sampled</th><th class="num">Matched</th>'
            "</tr></thead>\n<tbody>" + "\n".join(rows) + "</tbody></table>")


def _detectors(entry: Entry) -> str:
    if not entry.detectors:
        return "—"
    return _e(", ".join(f"{d} ({entry.matches[d]:,})" if d in entry.matches else d
                        for d in entry.detectors))


def _confidence(confidence: str) -> str:
    css = confidence if confidence in CONFIDENCE_ORDER else "low"
    return f'<span class="conf conf-{css}">{_e(confidence)}</span>'


def _sampled(entry: Entry) -> str:
    return _e(f"{entry.sampled:,} {_unit(entry)}")


def _matched(entry: Entry) -> str:
    if entry.sample_unit == "bytes":
        return _e(_n(entry.matched, "match", "matches"))
    share = f" ({entry.matched / entry.sampled:.0%})" if entry.sampled else ""
    return _e(f"{entry.matched:,} {_unit(entry)}{share}")


def _unit(entry: Entry) -> str:
    unit = entry.sample_unit or "values"
    if unit == "values":
        return "value" if entry.sampled == 1 and entry.matched <= 1 else "values"
    if unit == "bytes":
        return "byte" if entry.sampled == 1 else "bytes"
    return unit


# --------------------------------------------------------------------------- coverage

def _coverage(datamap: DataMap) -> str:
    out = ["<section><h2>Coverage</h2>",
           "<h3>Personal data a request search would not find</h3>"]
    gap = datamap.not_searched()
    if gap:
        out.append("<p>These places hold personal data but a subject access or erasure "
                   "request would not look at them. Configure them for request search, or "
                   "record why they need not be.</p>")
        rows = "\n".join(
            f'<tr><td class="name">{_e(e.system)}</td><td class="name">{_e(e.container)}</td>'
            f"<td>{_e(e.kind)}</td><td>{_e(', '.join(e.categories)) or '—'}</td>"
            f"<td>{_confidence(e.confidence)}</td>"
            f"<td>{_e(e.not_searched_because or 'not stated')}</td></tr>" for e in gap)
        out.append('<table class="gap"><thead><tr><th>System</th><th>Place</th>'
                   "<th>Kind</th><th>Data groups</th><th>Confidence</th>"
                   "<th>Why not searched</th></tr>"
                   f"</thead>\n<tbody>{rows}</tbody></table>")
    else:
        out.append("<p>None: a request search looks at every place where personal data "
                   "was found.</p>")
    out.append("<h3>Could not be read</h3>")
    unread_systems = [s for s in datamap.systems if s.status in ("failed", "skipped")]
    unreadable = sorted(datamap.unreadable, key=lambda u: (u.system, u.unit))
    if unread_systems or unreadable:
        out.append("<p>These could not be sampled, so whether they hold personal data is "
                   "not known.</p>")
        out.append(_unreadable_table(unread_systems, unreadable))
    else:
        out.append("<p>None: every place listed was read.</p>")
    out.append("</section>")
    return "\n".join(out)


def _unreadable_table(systems: list[SystemSummary], unreadable: list[Unreadable]) -> str:
    rows = [f'<tr><td class="name">{_e(s.name)}</td><td>the whole system</td><td>system</td>'
            f"<td>{_e(_not_read(s))}</td></tr>" for s in systems]
    rows += [f'<tr><td class="name">{_e(u.system)}</td><td class="name">{_e(u.unit)}</td>'
             f"<td>{_e(u.kind)}</td><td>{_e(u.reason)}</td></tr>" for u in unreadable]
    return ('<table class="unread"><thead><tr><th>System</th><th>Place</th><th>Kind</th>'
            "<th>Reason</th></tr></thead>\n<tbody>" + "\n".join(rows) + "</tbody></table>")


def _not_read(system: SystemSummary) -> str:
    if system.status == "skipped":
        return "cannot be sampled: its connector has no sampling for sweeps"
    return f"the sweep failed: {system.error}" if system.error else "the sweep failed"


# --------------------------------------------------------------------------- helpers

def _system_names(datamap: DataMap) -> list[str]:
    """Systems in the summary's order, then any only the entries or unreadables name."""
    names = [s.name for s in datamap.systems]
    extra = {e.system for e in datamap.entries} | {u.system for u in datamap.unreadable}
    return names + sorted(extra - set(names))


def _when(value: Any) -> str:
    if value in (None, ""):
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


def _n(count: int, word: str, plural: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else plural or word + 's'}"


def _num(value: int) -> str:
    return f"{value:,}"


def _e(value: object) -> str:
    return escape(str(value), quote=True)
