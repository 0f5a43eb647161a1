"""Excel workbooks (xlsx/xlsm), every worksheet, read straight from the zip.

``where`` is ``sheet:NAME``; ``row`` the Excel row number; ``cells`` the row's values as
text from column A (gaps as "" so ``cells[i]`` is column i+1; integers without ``.0`` so a
phone stored as a number reads ``7700900123``; dates as ISO dates; formulas as their last
computed value; booleans ``TRUE``/``FALSE``, errors as stored, e.g. ``#N/A``), trailing
empty cells dropped, empty rows skipped; ``text`` the non-empty cells joined by ", ";
``offset`` 0. Every worksheet in workbook order; chart sheets are skipped.

Values are exactly what openpyxl (read-only, ``data_only``) gives, passed through
``render``: the erasure rewriter edits workbooks with openpyxl and must agree on rows
(tests/test_xlsx_stream.py keeps the openpyxl reading as the oracle). Worksheets are
streamed through expat callbacks (nothing of a row is kept once it is yielded); the
smaller parts (workbook, relationships, styles, shared strings) through ElementTree's pull
parser, pruned as it goes. Every byte is read through the zip limits; a document type
declaration is refused. Transitional and strict OOXML namespaces are both read.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO
from xml.etree import ElementTree as ET
from xml.parsers import expat

from agent.extraction import part_error
from agent.extraction import seekable as seekable_stream
from agent.extractors import ExtractContext, ExtractionError, Extractor, TextPiece
from plugins.extractors._common import Counted, office_sniff, open_zip, render, row_text

# Not used here any more, but connectors/files/rewrite_office.py edits workbooks with
# openpyxl and has relied on this filter being installed with the extractors: keep it.
warnings.filterwarnings("ignore", category=UserWarning, module=r"openpyxl(\.|$)")

_MAIN = ("{http://schemas.openxmlformats.org/spreadsheetml/2006/main}",
         "{http://purl.oclc.org/ooxml/spreadsheetml/main}")
_PKG_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_CONTENT_TYPES = "{http://schemas.openxmlformats.org/package/2006/content-types}"
_WORKBOOK_TYPES = (
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    "application/vnd.ms-excel.template.macroEnabled.main+xml")
_FEED = 64 * 1024

# ---- numbers that are dates (openpyxl's is_date_format / is_timedelta_format)
_BUILTIN_DATES = frozenset({14, 15, 16, 17, 18, 19, 20, 21, 22, 45, 46, 47})
_BUILTIN_DURATIONS = frozenset({46})
_STRIP = re.compile(r'".*?"|\[(?!hh?\]|mm?\]|ss?\])[^\]]*\]')
_DATE_CODE = re.compile(r"(?<![_\\])[dmhysDMHYS]")
_DURATION_CODE = re.compile(
    r"\[hh?\](:mm(:ss(\.0*)?)?)?|\[mm?\](:ss(\.0*)?)?|\[ss?\](\.0*)?", re.I)
_NUMBER, _DATE, _DURATION = 0, 1, 2
_WINDOWS_EPOCH = dt.datetime(1899, 12, 30)
_MAC_EPOCH = dt.datetime(1904, 1, 1)
_ISO = re.compile(r"""
(?P<date>(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2}))?T?
(?P<time>(?P<hour>\d{2}):(?P<minute>\d{2})(:(?P<second>\d{2})(?P<microsecond>\.\d{1,3})?)?)?Z?
""", re.VERBOSE)
_ISO_DURATION = re.compile(
    r"PT((?P<hours>\d+)H)?((?P<minutes>\d+)M)?((?P<seconds>\d+(\.\d{1,3})?)S)?")
_DIGITS = "0123456789"
_COLUMNS: dict[str, int] = {}  # "AB" -> 28, filled as met (thread-safe enough: a cache)


class XlsxExtractor(Extractor):
    name = "xlsx"
    extensions = (".xlsx", ".xlsm", ".xltx", ".xltm")
    media_types = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",)
    tabular = True

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        return office_sniff("xlsx", cls.extensions, head, filename)

    def extract(self, stream: BinaryIO, filename: str, context: ExtractContext
                ) -> Iterator[TextPiece]:
        with seekable_stream(stream) as data:
            archive = open_zip(data, context.limits)
            with archive:
                book = _Book(archive, context)
                for name, part in book.sheets():
                    yield from book.rows(name, part)


# ---------------------------------------------------------------- the package
class _Book:
    def __init__(self, archive: zipfile.ZipFile, context: ExtractContext) -> None:
        self.archive = archive
        self.context = context
        self.names = set(archive.namelist())
        self.workbook = self._workbook_part()
        self.epoch = _WINDOWS_EPOCH
        self._sheets: list[tuple[str, str]] = []  # (name, relationship id)
        self._read_workbook()
        self.rels = self._relationships()
        self.strings = self._shared_strings()
        self.kinds = self._styles()

    def sheets(self) -> Iterator[tuple[str, str]]:
        """(sheet name, part) of every worksheet in workbook order."""
        for number, (name, rid) in enumerate(self._sheets, 1):
            rel = self.rels.get(rid)
            if rel is None:
                raise part_error(_rels_path(self.workbook),
                                 f"no relationship for sheet {number}")
            kind, target = rel
            if "chartsheet" in kind or target is None:
                continue  # a chart sheet, or an external target (not a part)
            if target not in self.names:
                raise part_error(target, f"missing worksheet part (sheet {number})")
            yield name, target

    def rows(self, name: str, part: str) -> Iterator[TextPiece]:
        yield from _sheet_rows(self, part, f"sheet:{name}")

    # ---- parts
    def open(self, part: str) -> Iterator[tuple[str, ET.Element]]:
        """Start events of ``part``'s elements (see ``_stream``)."""
        info = self.archive.getinfo(part)
        if info.flag_bits & 1:
            raise part_error(part, "encrypted")
        return _stream(self.archive, info, part, self.context)

    def _workbook_part(self) -> str:
        if "[Content_Types].xml" in self.names:
            for elem in _complete(self.open("[Content_Types].xml"),
                                  {f"{_CONTENT_TYPES}Override"}):
                name = (elem.get("PartName") or "").lstrip("/")
                if elem.get("ContentType") in _WORKBOOK_TYPES and name in self.names:
                    return name
        if "xl/workbook.xml" not in self.names:
            raise ExtractionError("not an xlsx workbook (no workbook part "
                                  "xl/workbook.xml)")
        return "xl/workbook.xml"

    def _read_workbook(self) -> None:
        wanted = {f"{ns}{tag}" for ns in _MAIN for tag in ("sheet", "workbookPr")}
        for elem in _complete(self.open(self.workbook), wanted):
            if elem.tag.endswith("}workbookPr"):
                flag = elem.get("date1904")
                if flag and flag not in ("false", "f", "0"):  # as openpyxl reads it
                    self.epoch = _MAC_EPOCH
                continue
            rid = next((v for k, v in elem.attrib.items() if k.endswith("}id")), None)
            if rid:  # openpyxl drops a sheet without one (old xlsm files)
                self._sheets.append((elem.get("name") or "", rid))

    def _relationships(self) -> dict[str, tuple[str, str | None]]:
        """Relationship id -> (type, target part, None when external)."""
        path = _rels_path(self.workbook)
        if path not in self.names:
            if not self._sheets:
                return {}
            raise part_error(path, "missing part (the workbook's relationships)")
        folder = posixpath.dirname(self.workbook)
        rels: dict[str, tuple[str, str | None]] = {}
        for elem in _complete(self.open(path), {f"{_PKG_RELS}Relationship"}):
            target = elem.get("Target") or ""
            if elem.get("TargetMode") == "External":
                part = None
            elif target.startswith("/"):
                part = target[1:]
            else:
                part = posixpath.normpath(posixpath.join(folder, target))
            rels[elem.get("Id") or ""] = (elem.get("Type") or "", part)
        return rels

    def _related(self, kind: str, default: str) -> str | None:
        for rel_type, target in self.rels.values():
            if rel_type.endswith(kind) and target:
                return target if target in self.names else None
        return default if default in self.names else None

    def _shared_strings(self) -> list[str]:
        part = self._related("/sharedStrings", "xl/sharedStrings.xml")
        if part is None:
            return []
        strings = []
        for elem in _complete(self.open(part), {f"{ns}si" for ns in _MAIN}):
            text = _content(elem)
            strings.append(text.replace("x005F_", "") if "x005F_" in text else text)
        return strings

    def _styles(self) -> list[int]:
        """Per cell style (``s``): _NUMBER, _DATE or _DURATION, from its number format."""
        part = self._related("/styles", "xl/styles.xml")
        if part is None:
            return []
        custom: dict[int, str] = {}
        formats: list[int] = []
        wanted = {f"{ns}{tag}" for ns in _MAIN for tag in ("numFmts", "cellXfs")}
        for elem in _complete(self.open(part), wanted):
            if elem.tag.endswith("}numFmts"):
                for fmt in elem:
                    number = _integer(fmt.get("numFmtId"))
                    if number is not None:
                        custom[number] = fmt.get("formatCode") or ""
            else:
                formats = [_integer(xf.get("numFmtId")) or 0 for xf in elem]
        return [_kind(number, custom) for number in formats]


def _rels_path(part: str) -> str:
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", f"{name}.rels")


def _integer(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _kind(number: int, custom: dict[int, str]) -> int:
    code = custom.get(number)
    if code is None:
        if number in _BUILTIN_DURATIONS:
            return _DURATION
        return _DATE if number in _BUILTIN_DATES else _NUMBER
    first = code.split(";")[0]
    if not _DATE_CODE.search(_STRIP.sub("", first)):
        return _NUMBER
    return _DURATION if _DURATION_CODE.search(first) else _DATE


def _content(elem: ET.Element) -> str:
    """The text of a string item (``si``, ``is``) as openpyxl reads it: the last plain
    ``t`` then every rich-text run's last ``t``; phonetic runs (``rPh``) left out."""
    if len(elem) == 1 and elem[0].tag[-2:] == "}t":
        return elem[0].text or ""
    plain: str | None = None
    runs: list[str] = []
    for child in elem:
        local = child.tag.rpartition("}")[2]
        if local == "t":
            plain = child.text
        elif local == "r":
            run = None
            for part in child:
                if part.tag.rpartition("}")[2] == "t":
                    run = part.text
            if run is not None:
                runs.append(run)
    return "".join([plain, *runs] if plain is not None else runs)


# ---------------------------------------------------------------- streaming XML
class _Root(Exception):
    """The guard parser reached the root element: no DOCTYPE came before it."""


def _stream(archive: zipfile.ZipFile, info: zipfile.ZipInfo, part: str,
            context: ExtractContext) -> Iterator[tuple[str, ET.Element]]:
    """("start", element) for each element of a part, in document order, its bytes counted
    against the limits. Everything is still attached to the tree: ``_complete`` prunes."""
    parser = ET.XMLPullParser(("start",))
    guard: expat.XMLParserType | None = _guard(part)
    try:
        with archive.open(info) as raw:
            counted = Counted(raw, context.count)
            while True:
                chunk = counted.read(_FEED)
                if guard is not None:
                    guard = _check(guard, chunk, part)
                if chunk:
                    parser.feed(chunk)
                else:
                    parser.close()
                yield from parser.read_events()  # type: ignore[misc]
                if not chunk:
                    return
    except ET.ParseError as exc:
        line, column = exc.position
        raise part_error(part, f"not well-formed XML (line {line}, column {column})"
                         ) from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise part_error(part, f"corrupt zip member ({type(exc).__name__})") from None
    except NotImplementedError:
        raise part_error(part, "unsupported compression method") from None


def _guard(part: str) -> expat.XMLParserType:
    """A second parser that only reads up to the root element, to refuse a DOCTYPE (OOXML
    never has one; it is how entity-expansion attacks start)."""
    guard = expat.ParserCreate()

    def refuse(*_: object) -> None:
        raise part_error(part, "XML with a document type declaration is not accepted")

    def root(*_: object) -> None:
        raise _Root

    guard.StartDoctypeDeclHandler = refuse
    guard.StartElementHandler = root
    return guard


def _check(guard: expat.XMLParserType, chunk: bytes, part: str
           ) -> expat.XMLParserType | None:
    """Feed the guard; None once the root element is reached (or the XML is broken,
    which the main parser reports)."""
    try:
        guard.Parse(chunk, not chunk)
    except (_Root, expat.ExpatError):
        return None
    return guard


def _complete(events: Iterator[tuple[str, ET.Element]], wanted: set[str]
              ) -> Iterator[ET.Element]:
    """Each element whose tag is in ``wanted`` once it is complete (when the next wanted
    one starts, or at the end; wanted elements never nest). The root is emptied as it
    goes, so a part whose wanted elements are the root's children (shared strings) is
    never held whole; an element taken off the tree still arrives through its event."""
    pending: ET.Element | None = None
    root: ET.Element | None = None
    for count, (_, elem) in enumerate(events):
        if root is None:
            root = elem
        elif elem.tag in wanted:
            if pending is not None:
                yield pending
            pending = elem
        if count & 1023 == 1023:
            del root[:]
    if pending is not None:
        yield pending


# ---------------------------------------------------------------- one worksheet
def _sheet_rows(book: _Book, part: str, where: str) -> Iterator[TextPiece]:
    """Rows of one worksheet as openpyxl's read-only ``iter_rows`` gives them, rendered.

    Parsed with expat callbacks, a state machine over row, c, v, is, t, r and rPh kept in
    closure variables: building an element tree (or keeping state in attributes) costs
    more than everything else here."""
    info = book.archive.getinfo(part)
    if info.flag_bits & 1:
        raise part_error(part, "encrypted")
    strings, epoch, styles = book.strings, book.epoch, book.kinds
    kinds: dict[str | None, int] = {"": _NUMBER}  # cell style -> _NUMBER/_DATE/...
    dates: dict[tuple[str, int], str] = {}  # (serial, kind) -> text: dates repeat
    ready: list[TextPiece] = []
    # rows, numbered as openpyxl's _cells_by_row counts them
    counter, number, previous = 1, 0, 0
    index = 0  # the open row's number; 0 outside a row or when openpyxl drops it
    digits = ""  # str(index), to check cell references cheaply
    values: list[str] = []
    cells: list[tuple[int, int]] = []  # (column, row) of each cell of the row
    column = 0
    odd = False  # a cell reference names another row than its <row>
    # the open cell: attributes, first <v>, first <is> as text
    cell: dict[str, str] | None = None
    value: str | None = None
    inline: str | None = None
    got_value = got_inline = in_inline = in_run = in_phonetic = False
    plain: str | None = None
    run: str | None = None
    runs: list[str] = []
    text: list[str] | None = None  # character data being collected
    c_tag = v_tag = t_tag = is_tag = row_tag = ""
    others: dict[str, str] = {}

    def root(name: str, attrs: dict[str, str]) -> None:
        # the root's namespace names the elements read (transitional or strict)
        nonlocal c_tag, v_tag, t_tag, is_tag, row_tag, others
        ns = name.rpartition(" ")[0]
        prefix = f"{ns} " if ns else ""
        c_tag, v_tag, t_tag, is_tag, row_tag = (f"{prefix}{tag}"
                                                for tag in ("c", "v", "t", "is", "row"))
        others = {f"{prefix}r": "r", f"{prefix}rPh": "rPh"}
        parser.StartElementHandler = start

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal cell, value, inline, got_value, got_inline, text, in_inline, plain
        nonlocal runs, in_run, run, in_phonetic
        if name == c_tag:
            cell = attrs
            value = inline = None
            got_value = got_inline = False
        elif name == v_tag:
            if cell is not None and not got_value:
                text = []
        elif name == is_tag:
            if cell is not None and not got_inline:
                in_inline = True
                plain, runs = None, []
        elif name == t_tag:
            if in_inline and not in_phonetic:
                text = []
        elif name == row_tag:
            open_row(attrs.get("r"))
        else:
            tag = others.get(name)
            if tag == "r":
                if in_inline:
                    in_run, run = True, None
            elif tag == "rPh":
                in_phonetic = True

    def end(name: str) -> None:
        nonlocal cell, value, got_value, text, run, plain, inline, in_inline, got_inline
        nonlocal in_run, in_phonetic, column, odd
        if name == c_tag:
            attrs, cell = cell, None
            if attrs is None or not index:
                return
            ref = attrs.get("r")
            if ref:
                letters = ref.rstrip(_DIGITS)
                column = _COLUMNS.get(letters) or _column(letters)
                row = index
                if ref[len(letters):] != digits:
                    row = int(ref[len(letters):])
                    odd = odd or row != index
            else:
                row, column = index, column + 1
            cells.append((column, row))
            kind = attrs.get("t")
            if kind == "inlineStr":
                result = inline or ""
            elif value is None:
                result = ""
            elif kind is None or kind == "n":
                flag = kinds.get(style := attrs.get("s"))
                if flag is None:
                    flag = kinds[style] = _style_kind(style, styles)
                if flag == _NUMBER:
                    result = _number(value)
                else:
                    result = dates.get((value, flag)) or _date(value, flag, epoch, dates)
            elif kind == "s":
                result = strings[int(value)]
            elif kind == "b":
                result = "TRUE" if int(value) else "FALSE"
            elif kind == "d":
                result = render(_from_iso(value))
            else:  # str (a formula's text), e (an error), or unknown: as stored
                result = value
            size = len(values)
            if column > size:
                if column > size + 1:
                    values.extend([""] * (column - size - 1))
                values.append(result)
            else:
                values[column - 1] = result
        elif name == v_tag:
            if text is not None:
                value = "".join(text) or None  # openpyxl: findtext() or None
                got_value = True
                text = None
        elif name == t_tag:
            if text is not None:
                if in_run:
                    run = "".join(text)
                else:
                    plain = "".join(text)
                text = None
        elif name == is_tag:
            if in_inline:
                inline = "".join([plain, *runs] if plain is not None else runs)
                in_inline, got_inline = False, True
        elif name == row_tag:
            close_row()
        else:
            tag = others.get(name)
            if tag == "r":
                if in_run and run is not None:
                    runs.append(run)
                in_run = False
            elif tag == "rPh":
                in_phonetic = False

    def data(chunk: str) -> None:
        if text is not None:
            text.append(chunk)

    def open_row(ref: str | None) -> None:
        nonlocal previous, index, digits, number, counter, values, cells, column, odd
        try:
            index = _row_index(ref, previous)
        except ValueError:
            raise part_error(part, f"invalid row number after row {previous}") from None
        previous = index
        if index < counter:
            index = 0  # openpyxl drops a row that goes back (or repeats a number)
            return
        number += index - counter + 1
        counter = index + 1
        digits = str(index)
        values, cells, column, odd = [], [], 0, False

    def close_row() -> None:
        nonlocal number, index
        if not index:
            return
        if cells:
            last = cells[-1][0]
            del values[last:]  # openpyxl sizes a row by its last cell's column
            first = _first_row(cells, last) if odd else index
            if first:
                number = first
        while values and not values[-1]:
            values.pop()
        if values:
            ready.append(TextPiece(row_text(values), where=where, offset=0, row=number,
                                   cells=tuple(values)))
        index = 0

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    parser.StartDoctypeDeclHandler = _refuse(part)
    parser.StartElementHandler = root
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    try:
        with book.archive.open(info) as raw:
            counted = Counted(raw, book.context.count)
            while True:
                chunk = counted.read(_FEED)
                parser.Parse(chunk or b"", not chunk)
                yield from ready
                ready.clear()
                if not chunk:
                    return
    except expat.ExpatError as exc:
        raise part_error(part, f"not well-formed XML (line {exc.lineno}, "
                         f"column {exc.offset})") from None
    except (ValueError, IndexError, OverflowError, TypeError):
        raise part_error(part, f"row {index or previous}: a cell value or reference "
                         "is not valid") from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise part_error(part, f"corrupt zip member ({type(exc).__name__})") from None
    except NotImplementedError:
        raise part_error(part, "unsupported compression method") from None


def _style_kind(style: str | None, styles: list[int]) -> int:
    """openpyxl reads a missing ``s`` as style 0 and an empty one as no style."""
    number = int(style) if style else 0
    if style == "" or not 0 <= number < len(styles):
        return _NUMBER
    return styles[number]


def _date(text: str, flag: int, epoch: dt.datetime, seen: dict[tuple[str, int], str]
          ) -> str:
    try:
        result = render(_from_excel(_cast(text), epoch, flag == _DURATION))
    except (OverflowError, ValueError):
        result = "#VALUE!"  # openpyxl's reading of a date serial out of range
    if len(seen) >= 50_000:
        seen.clear()
    seen[text, flag] = result
    return result


def _refuse(part: str) -> Callable[..., None]:
    def refuse(*_: object) -> None:
        # OOXML never has one; a DTD is how entity-expansion attacks start
        raise part_error(part, "XML with a document type declaration is not accepted")
    return refuse


def _row_index(ref: str | None, previous: int) -> int:
    if ref is None:
        return previous + 1
    try:
        return int(ref)
    except ValueError:
        value = float(ref)
        if not value.is_integer():
            raise
        return int(value)


def _column(letters: str) -> int:
    """"AB" -> 28 (openpyxl reads A to ZZZ, either case), remembered."""
    if not 0 < len(letters) <= 3 or not letters.isascii() or not letters.isalpha():
        raise ValueError("bad cell reference")
    column = 0
    for letter in letters.upper():
        column = column * 26 + ord(letter) - 64
    _COLUMNS[letters] = column
    return column


def _first_row(cells: list[tuple[int, int]], last: int) -> int:
    """The row number openpyxl reports for a row whose cell references name other rows
    (odd files): its leftmost kept cell's (the last one written to that column)."""
    rows = {column: row for column, row in cells if column <= last}
    return next((rows[c] for c in sorted(rows) if rows[c]), 0)


def _cast(text: str) -> int | float:
    if "." in text or "E" in text or "e" in text:
        return float(text)
    return int(text)


def _number(text: str) -> str:
    """``render`` of the number openpyxl reads from ``text`` (an int unless it has a
    point or an exponent)."""
    if "." in text or "E" in text or "e" in text:
        value = float(text)
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    return str(int(text))


def _from_excel(value: float, epoch: dt.datetime, duration: bool
                ) -> dt.datetime | dt.time | dt.timedelta:
    """openpyxl's ``from_excel``: an Excel serial as a datetime, a time (under one day)
    or, for ``[h]:mm`` formats, a duration rounded to the millisecond."""
    if duration:
        span = dt.timedelta(days=value)
        if span.microseconds:
            span = dt.timedelta(seconds=span.total_seconds() // 1,
                                microseconds=round(span.microseconds, -3))
        return span
    day, fraction = divmod(value, 1)
    diff = dt.timedelta(milliseconds=round(fraction * 86_400_000))
    if 0 <= value < 1 and diff.days == 0:
        minutes, seconds = divmod(diff.seconds, 60)
        hours, minutes = divmod(minutes, 60)
        return dt.time(hours, minutes, seconds, diff.microseconds)
    if 0 < value < 60 and epoch == _WINDOWS_EPOCH:
        day += 1  # Excel's 29 February 1900
    return epoch + dt.timedelta(days=day) + diff


def _from_iso(text: str) -> dt.date | dt.time | dt.timedelta:
    """openpyxl's ``from_ISO8601``, for cells of type ``d``."""
    match = _ISO.match(text)
    if match and any(match.groups()):
        parts = match.groupdict()
        n = {k: int(v) if v else 0 for k, v in parts.items()
             if k not in ("date", "time", "microsecond")}
        micro = int(float(parts["microsecond"]) * 1_000_000) if parts["microsecond"] else 0
        if not parts["date"]:
            return dt.time(n["hour"], n["minute"], n["second"], micro)
        if not parts["time"]:
            return dt.date(n["year"], n["month"], n["day"])
        return dt.datetime(n["year"], n["month"], n["day"], n["hour"], n["minute"],
                           n["second"], micro)
    match = _ISO_DURATION.match(text)
    if match and any(match.groups()):
        return dt.timedelta(**{k: float(v) for k, v in match.groupdict().items()
                               if v and k in ("hours", "minutes", "seconds")})
    raise ValueError("not an ISO 8601 date")
