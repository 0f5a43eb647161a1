"""Discovery samples of the files connector (a folder, real sshd, real smbd) and the s3
connector (moto's S3 server over HTTP): one sample per file or current object, bounded
reads (the head plus random slices of a large text), unchanged units never opened, files
requests leave out sampled with the reason, unreadable ones reported without content.

All data is made up (example.com, 07700 900xxx).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO

import pytest

from agent.connector import Container
from agent.sampling import Sample, SampleOptions, fingerprint
from connectors.files.connector import FilesConnector
from connectors.files.transport import Entry, Transport
from connectors.files.transports import open_transport
from connectors.s3.client import RESTORE_NEEDED
from connectors.s3.connector import S3Connector
from tests.support.documents import docx_bytes

if TYPE_CHECKING:
    from tests.file_servers import Share
    from tests.s3_server import Bucket

pytest_plugins = ("tests.file_servers", "tests.s3_server")

LETTER = "Dear Ms Doe,\nplease call 07700 900123 or write to jane.doe@example.com.\n"
LIST = "name,email,phone\nBob Smith,bob.smith@example.com,01632 960333\n"
LINE = 64  # bytes per line of the big file: "<offset> filler...\n"
BIG = 5 * 1024 * 1024
BUDGET = 64 * 1024
SECRET = "amy.adams@example.co.uk"  # inside files that cannot be read: never in an error




def big_text(size: int = BIG, marker: str = "") -> bytes:
    """Lines that say where they start (``0000123456 ...``), the marker on the last one."""
    lines = []
    offset = 0
    while offset < size:
        line = f"{offset:010d} " + "lorem ipsum dolor sit amet consectetur adipiscing "[:LINE - 12]
        line = line.ljust(LINE - 1) + "\n"
        lines.append(line)
        offset += len(line)
    if marker:
        lines[-1] = (f"{offset - LINE:010d} {marker}").ljust(LINE - 1) + "\n"
    return "".join(lines).encode()


def big_size(size: int) -> int:
    return -(-size // LINE) * LINE  # whole lines, the last one past ``size``


def offsets(text: str) -> list[int]:
    return [int(m) for m in re.findall(r"(?m)^(\d{10}) ", text)]


class Counting(FilesConnector):
    """The files connector, counting what sampling opens and the bytes it asks for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.opens = 0
        self.requested = 0

    def _open(self, transport: Transport, entry: Entry) -> AbstractContextManager[BinaryIO]:
        self.opens += 1
        return _counted(super()._open(transport, entry), self)


class _CountedStream:
    def __init__(self, stream: BinaryIO, owner: Counting) -> None:
        self._stream = stream
        self._owner = owner

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._owner.requested += len(data)
        return data

    def __getattr__(self, name: str) -> Any:
        if name == "raw":  # reads must come through here to be counted
            raise AttributeError(name)
        return getattr(self._stream, name)


@contextmanager
def _counted(opened: AbstractContextManager[BinaryIO], owner: Counting) -> Iterator[Any]:
    with opened as stream:
        yield _CountedStream(stream, owner)


def run(connector: FilesConnector | S3Connector, container: str, **options: Any
        ) -> list[Sample]:
    return list(connector.sample(Container(container, "folder"), SampleOptions(**options)))


def by_unit(samples: list[Sample]) -> dict[str, Sample]:
    return {s.unit: s for s in samples}


def text_of(sample: Sample) -> str:
    assert sample.error is None and not sample.unchanged, sample
    assert len(sample.fields) == 1
    return sample.fields[0].text or ""


class Memory:
    """An ``unchanged`` that remembers what a pass saw, as a sweep's state would."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def remember(self, samples: list[Sample]) -> None:
        self.seen.update({s.unit: s.fingerprint for s in samples if not s.error})

    def __call__(self, unit: str, print_: str) -> bool:
        return self.seen.get(unit) == print_


# --------------------------------------------------------------------------- files


def test_a_folder_is_sampled_file_by_file(share: Share) -> None:
    share.write("letters/2024/march.txt", LETTER)
    share.write("letters/list.csv", LIST)
    share.write("letters/quote.docx", docx_bytes("Quote for Jane Doe", "jane.doe@example.com"))
    share.write("letters/empty.txt", b"")
    share.write("other/x.txt", "not in this folder\n")
    share.write("root.txt", "at the root: 07700 900456\n")
    connector = FilesConnector(share.system())
    assert "sample" in connector.capabilities
    assert {c.name for c in connector.discover()} == {"", "letters", "other"}

    samples = run(connector, "letters")
    assert [s.unit for s in samples] == ["letters/2024/march.txt", "letters/empty.txt",
                                         "letters/list.csv", "letters/quote.docx"]
    transport = open_transport(share.system())
    try:
        listed = {e.path: e for e in transport.walk("letters") if isinstance(e, Entry)}
    finally:
        transport.close()
    for sample in samples:
        entry = listed[sample.unit]
        assert sample.kind == "file" and not sample.unchanged and sample.error is None
        assert sample.fingerprint == fingerprint(entry.size, entry.mtime)
        (field,) = sample.fields
        assert field.container == sample.unit and field.kind == "file"
        assert field.size == entry.size and field.searched and field.not_searched_because is None
    texts = {s.unit: text_of(s) for s in samples}
    assert texts["letters/2024/march.txt"] == LETTER
    assert "bob.smith@example.com" in texts["letters/list.csv"]
    assert "Quote for Jane Doe" in texts["letters/quote.docx"]  # through the docx extractor
    assert texts["letters/empty.txt"] == ""
    assert connector.last_report is not None and connector.last_report.problems == []

    root = run(connector, "")
    assert [s.unit for s in root] == ["root.txt"]
    assert "07700 900456" in text_of(root[0])


def test_a_large_text_is_its_head_plus_random_slices(share: Share) -> None:
    share.write("logs/app.log", big_text())
    connector = Counting(share.system())
    (sample,) = run(connector, "logs", text_bytes=BUDGET, seed=7)
    text = text_of(sample)
    assert sample.fields[0].size == big_size(BIG)
    assert 0.8 * BUDGET < len(text) <= BUDGET
    seen = offsets(text)
    assert seen[0] == 0 and seen == sorted(seen)
    # every line is whole (slices are cut at line ends), and from across the file
    assert all(len(line) == LINE - 1 for line in text.split("\n") if line)
    # the head, then one slice in each quarter of the rest
    rest_from = BUDGET // 2
    stretch = (big_size(BIG) - rest_from) // 4
    for quarter in range(4):
        low = rest_from + quarter * stretch
        assert any(low <= o < low + stretch for o in seen), quarter
    jumps = [b for a, b in itertools.pairwise(seen) if b - a != LINE]
    assert len(jumps) == 4
    # the file was read in ranges: one open, a bounded number of bytes asked for
    assert connector.opens == 1 and connector.requested <= BUDGET + 8192

    again = text_of(run(connector, "logs", text_bytes=BUDGET, seed=7)[0])
    other = text_of(run(connector, "logs", text_bytes=BUDGET, seed=8)[0])
    assert again == text and other != text and offsets(other)[0] == 0


def test_the_end_of_a_large_text_is_reached_for_some_seed(make_share: Callable[..., Share]
                                                         ) -> None:
    share = make_share("local")
    marker = "last line: jane.doe@example.com"
    share.write("logs/big.txt", big_text(1 << 20, marker))
    connector = FilesConnector(share.system())
    hits = [seed for seed in range(300)
            if marker in text_of(run(connector, "logs", text_bytes=BUDGET, seed=seed)[0])]
    assert hits and len(hits) < 300  # random: reached by some seeds, not all


def test_unchanged_files_are_not_opened_and_a_touch_changes_the_fingerprint(
        share: Share) -> None:
    for name in ("a.txt", "b.txt", "c.csv"):
        share.write(f"docs/{name}", LIST)
    connector = Counting(share.system())
    memory = Memory()
    first = run(connector, "docs", unchanged=memory)
    assert connector.opens == 3 and not any(s.unchanged for s in first)
    memory.remember(first)

    connector.opens = connector.requested = 0
    second = run(connector, "docs", unchanged=memory)
    assert [s.unit for s in second] == [s.unit for s in first]
    assert all(s.unchanged and not s.fields and s.error is None for s in second)
    assert [s.fingerprint for s in second] == [s.fingerprint for s in first]
    assert connector.opens == 0 and connector.requested == 0  # nothing was read

    stamp = os.stat(share.path / "docs/b.txt").st_mtime + 100
    os.utime(share.path / "docs/b.txt", (stamp, stamp))
    third = by_unit(run(connector, "docs", unchanged=memory))
    assert connector.opens == 1
    assert not third["docs/b.txt"].unchanged and "bob.smith" in text_of(third["docs/b.txt"])
    assert third["docs/b.txt"].fingerprint != by_unit(first)["docs/b.txt"].fingerprint
    assert third["docs/a.txt"].unchanged and third["docs/c.csv"].unchanged


def test_files_requests_leave_out_are_sampled_with_the_reason(share: Share) -> None:
    share.write("hr/notes.txt", LETTER)
    share.write("hr/list.csv", LIST)
    share.write("hr/scratch.tmp", LETTER)
    share.write("hr/big.txt", big_text(40_000))
    share.write("hr/big.docx", docx_bytes(*(f"paragraph {i} " * 40 for i in range(200))))
    share.write("hold/kept.txt", LETTER)
    connector = FilesConnector(share.system(include=["hr/*", "hold/*"], exclude=["*.tmp"],
                                            max_file_bytes=20_000, quarantine="hold"))
    got = by_unit(run(connector, "hr", text_bytes=4096))
    assert set(got) == {"hr/big.docx", "hr/big.txt", "hr/list.csv", "hr/notes.txt",
                        "hr/scratch.tmp"}
    field = got["hr/scratch.tmp"].fields[0]
    assert not field.searched and field.not_searched_because == "excluded by the exclude option"
    assert "jane.doe@example.com" in (field.text or "")  # sampled all the same
    big = got["hr/big.txt"].fields[0]
    assert not big.searched and big.not_searched_because == "larger than max_file_bytes"
    assert big.size == big_size(40_000) and 0 < len(big.text or "") <= 4096
    assert got["hr/notes.txt"].fields[0].searched and got["hr/list.csv"].fields[0].searched
    # a format that must be parsed whole stays within the size limit search applies
    assert got["hr/big.docx"].error is not None
    assert got["hr/big.docx"].error.startswith("too big: ")
    assert "max_file_bytes" in got["hr/big.docx"].error and not got["hr/big.docx"].fields

    (kept,) = run(connector, "hold")
    assert kept.fields[0].not_searched_because == "in the quarantine folder"
    only = FilesConnector(share.system(include=["hr/*.txt"]))
    listed = by_unit(run(only, "hr"))
    assert listed["hr/list.csv"].fields[0].not_searched_because == (
        "not matched by the include option")


def test_unreadable_files_are_errors_without_content(share: Share) -> None:
    share.write("in/a-bad.docx", b"PK\x03\x04" + SECRET.encode() * 20)
    share.write("in/b-bad.pdf", b"%PDF-1.4\n" + SECRET.encode() * 20 + b"\n%%EOF\n")
    share.write("in/c-picture.png", b"\x89PNG\r\n\x1a\n" + SECRET.encode() + bytes(200))
    share.write("in/d-fine.txt", LETTER)
    share.write("in/e-gone.txt", SECRET)
    share.write("in/f-last.txt", LETTER)
    connector = FilesConnector(share.system())
    samples: list[Sample] = []
    for sample in connector.sample(Container("in", "folder"), SampleOptions()):
        samples.append(sample)
        if sample.unit == "in/d-fine.txt":  # listed already: gone before it is read
            (share.path / "in/e-gone.txt").unlink()
    got = by_unit(samples)
    assert list(got) == ["in/a-bad.docx", "in/b-bad.pdf", "in/c-picture.png",
                         "in/d-fine.txt", "in/e-gone.txt", "in/f-last.txt"]
    for unit in ("in/a-bad.docx", "in/b-bad.pdf", "in/c-picture.png", "in/e-gone.txt"):
        sample = got[unit]
        assert sample.error and not sample.fields and sample.kind == "file", sample
        assert SECRET not in sample.error and "amy" not in sample.error
        assert sample.fingerprint  # the sweep can tell when it changes
    assert got["in/a-bad.docx"].error.startswith("corrupt or unreadable: ")
    assert got["in/b-bad.pdf"].error.startswith("corrupt or unreadable: ")
    assert got["in/c-picture.png"].error.startswith("no extractor for its format")
    assert got["in/e-gone.txt"].error.startswith("gone since listed")
    assert text_of(got["in/d-fine.txt"]) == LETTER == text_of(got["in/f-last.txt"])
    report = connector.last_report
    assert report is not None and len(report.problems) == 4


@pytest.mark.parametrize("kind", ["sftp", "smb"])  # their servers run as a user, not root
def test_a_file_the_server_may_not_read_is_permission_denied(
        kind: str, make_share: Callable[..., Share]) -> None:
    share = make_share(kind)
    share.write("in/locked.txt", SECRET)
    share.write("in/open.txt", LETTER)
    os.chmod(share.path / "in/locked.txt", 0)
    got = by_unit(run(FilesConnector(share.system()), "in"))
    locked = got["in/locked.txt"]
    assert locked.error is not None and locked.error.startswith("permission denied")
    assert not locked.fields and SECRET not in locked.error
    assert text_of(got["in/open.txt"]) == LETTER


def test_the_root_container_lists_only_the_root(make_share: Callable[..., Share],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Each top-level folder is a container of its own: sampling the root ("") lists the
    root alone, not the whole share a second time."""
    from connectors.files.transports.sftp import SftpTransport

    share = make_share("sftp")
    share.write("top.txt", LETTER)
    share.write("in/open.txt", LETTER)
    share.write("in/deeper/more.txt", LETTER)
    listed: list[str] = []
    original = SftpTransport._list

    def counting(self: Any, folder: str) -> Any:
        listed.append(folder)
        return original(self, folder)

    monkeypatch.setattr(SftpTransport, "_list", counting)
    got = by_unit(run(FilesConnector(share.system()), ""))
    assert set(got) == {"top.txt"} and text_of(got["top.txt"]) == LETTER
    assert listed and not [f for f in listed if f.startswith("in")]  # no subfolder listed


def test_a_folder_that_cannot_be_listed_is_one_error(make_share: Callable[..., Share]) -> None:
    share = make_share("sftp")
    share.write("in/open.txt", LETTER)
    share.write("in/private/secret.txt", SECRET)
    os.chmod(share.path / "in/private", 0)
    try:
        got = by_unit(run(FilesConnector(share.system()), "in"))
    finally:
        os.chmod(share.path / "in/private", 0o755)
    assert text_of(got["in/open.txt"]) == LETTER
    private = got["in/private"]
    assert private.error and private.error.startswith("skipped by the walk") and not private.fields


# --------------------------------------------------------------------------- s3


def s3(bucket: Bucket, **options: Any) -> S3Connector:
    return S3Connector(bucket.system(**options))


def test_a_prefix_is_sampled_up_to_objects_per_prefix_at_random(make_bucket: Callable[..., Bucket]
                                                                ) -> None:
    bucket = make_bucket()
    for i in range(30):
        bucket.put(f"exports/{i:02d}.csv", LIST.replace("Bob", f"Bob{i}"))
    bucket.put("exports/deeper/x.txt", LETTER)
    bucket.put("top.txt", LETTER)
    bucket.put(".dsr/manifest.json", '{"agent": true}')
    connector = s3(bucket)
    assert "sample" in connector.capabilities
    assert {c.name for c in connector.discover()} >= {"", "exports"}

    picked = run(connector, "exports", objects_per_prefix=5, seed=1)
    units = [s.unit for s in picked]
    assert len(units) == 5 and units == sorted(units)
    assert all(u.startswith("exports/") for u in units)
    assert units == [s.unit for s in run(connector, "exports", objects_per_prefix=5, seed=1)]
    choices = {tuple(s.unit for s in run(connector, "exports", objects_per_prefix=5, seed=seed))
               for seed in range(2, 8)}
    assert len(choices) > 1  # the seed chooses
    every = run(connector, "exports", objects_per_prefix=100)
    assert len(every) == 31 and "exports/deeper/x.txt" in {s.unit for s in every}
    heads = {o["Key"]: o for o in bucket.client.list_objects_v2(
        Bucket=bucket.name, Prefix="exports/")["Contents"]}
    for sample in picked:
        assert sample.kind == "object" and sample.fields[0].kind == "object"
        assert sample.fingerprint == fingerprint(heads[sample.unit]["ETag"],
                                                 heads[sample.unit]["Size"])
        assert "bob" in text_of(sample).lower()
    # the objects directly under the prefix; the agent's own folder is no data of theirs
    assert [s.unit for s in run(connector, "")] == ["top.txt"]
    assert run(connector, ".dsr") == []


def test_a_versioned_bucket_samples_current_versions_only(make_bucket: Callable[..., Bucket]
                                                          ) -> None:
    bucket = make_bucket(versioned=True)
    bucket.put("crm/contacts.csv", LIST + "Old Row,old.row@example.com,07700 900001\n")
    bucket.put("crm/contacts.csv", LIST)
    bucket.put("crm/gone.txt", LETTER)
    bucket.client.delete_object(Bucket=bucket.name, Key="crm/gone.txt")
    connector = s3(bucket)
    (sample,) = run(connector, "crm")
    assert sample.unit == "crm/contacts.csv"  # the key itself, no ?versionId=
    assert "old.row" not in text_of(sample) and "bob.smith" in text_of(sample)


def test_objects_unchanged_excluded_archived_and_large(make_bucket: Callable[..., Bucket]
                                                       ) -> None:
    bucket = make_bucket()
    bucket.put("data/a.txt", LETTER)
    bucket.put("data/skip.tmp", LETTER)
    bucket.put("data/cold.csv", LIST, StorageClass="GLACIER")
    bucket.put("data/bad.docx", b"PK\x03\x04" + SECRET.encode() * 10)
    bucket.put("data/big.log", big_text(1 << 20))
    connector = s3(bucket, exclude=["*.tmp"])
    memory = Memory()
    first = by_unit(run(connector, "data", text_bytes=BUDGET, seed=3, unchanged=memory))
    assert text_of(first["data/a.txt"]) == LETTER
    skipped = first["data/skip.tmp"].fields[0]
    assert not skipped.searched and skipped.not_searched_because == (
        "excluded by the exclude option")
    cold = first["data/cold.csv"]
    assert cold.error is not None and cold.error.startswith(RESTORE_NEEDED) and not cold.fields
    bad = first["data/bad.docx"]
    assert bad.error and bad.error.startswith("corrupt or unreadable") and SECRET not in bad.error
    big = text_of(first["data/big.log"])  # ranged GETs: head and slices
    assert len(big) <= BUDGET and offsets(big)[0] == 0
    assert max(offsets(big)) > 0.75 * (1 << 20)
    assert len([b for a, b in zip(offsets(big), offsets(big)[1:], strict=False)
                if b - a != LINE]) == 4

    memory.remember(list(first.values()))
    bucket.put("data/a.txt", LETTER.replace("Ms", "Mr"))  # same size, new ETag
    second = by_unit(run(connector, "data", text_bytes=BUDGET, seed=3, unchanged=memory))
    assert not second["data/a.txt"].unchanged and "Mr Doe" in text_of(second["data/a.txt"])
    assert second["data/a.txt"].fingerprint != first["data/a.txt"].fingerprint
    assert all(second[u].unchanged for u in ("data/skip.tmp", "data/big.log"))


def test_objects_over_the_size_limit_are_sampled_or_refused(make_bucket: Callable[..., Bucket]
                                                           ) -> None:
    bucket = make_bucket(prefix="estate/")
    bucket.put("estate/big.txt", big_text(50_000))
    bucket.put("estate/big.docx", docx_bytes(*(f"paragraph {i} " * 40 for i in range(200))))
    bucket.put("estate/x/small.txt", LETTER)
    connector = s3(bucket, max_object_bytes=20_000)
    assert {c.name for c in connector.discover()} == {"estate", "estate/x"}
    got = by_unit(run(connector, "estate", text_bytes=4096))
    assert set(got) == {"estate/big.docx", "estate/big.txt"}
    field = got["estate/big.txt"].fields[0]
    assert not field.searched and field.not_searched_because == "larger than max_object_bytes"
    assert got["estate/big.docx"].error and "max_object_bytes" in got["estate/big.docx"].error
    assert [s.unit for s in run(connector, "estate/x")] == ["estate/x/small.txt"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8-sig"])
def test_slices_of_a_large_text_decode_in_its_encoding(encoding: str,
                                                       make_share: Callable[..., Share]) -> None:
    share = make_share("local")
    text = big_text(200_000).decode()
    share.write("logs/wide.txt", text.encode(encoding))
    (sample,) = run(FilesConnector(share.system()), "logs", text_bytes=8192, seed=5)
    got = text_of(sample)
    lines = [line for line in got.split("\n") if line]
    assert len(got) <= 8192 and len(lines) > 20
    assert all(line in text for line in lines)  # whole lines, decoded, no stray bytes
    assert offsets(got)[0] == 0 and max(offsets(got)) > 100_000


def test_sftp_slices_ask_the_server_for_little_more_than_the_slices(
        make_share: Callable[..., Share], monkeypatch: pytest.MonkeyPatch) -> None:
    """After a seek the SFTP reader starts with one request in flight: a sweep's slices of a
    big file do not pull megabytes of read-ahead over the link."""
    import paramiko

    share = make_share("sftp")
    share.write("logs/big.txt", big_text())
    asked: list[int] = []
    original = paramiko.SFTPClient._async_request

    def counting(self: Any, fileobj: Any, t: int, *args: Any) -> Any:
        if t == paramiko.sftp.CMD_READ:
            asked.append(int(args[2]))
        return original(self, fileobj, t, *args)

    monkeypatch.setattr(paramiko.SFTPClient, "_async_request", counting)
    [unit] = run(FilesConnector(share.system()), "logs", text_bytes=BUDGET, seed=7)
    assert len(text_of(unit)) > 0.8 * BUDGET
    assert sum(asked) < 6 * BUDGET  # was ~8.5 MB with full read-ahead per seek
