"""The files connector's search over a generated share (bench/files_generate.py).

Calls ``FilesConnector.search`` directly (one ``files`` system, no SearchEngine: no
attribution, expansion or audit around it), so the figures are the connector's sweep:
walk, extraction, prefilter, confirmation, row attribution.

Parts (``--parts``, comma-separated):

- ``local``  — one subject, then one pass for ``--batch`` subjects, over file://;
- ``sftp``   — the same over SFTP: an OpenSSH ``sshd`` on 127.0.0.1 started here the way
  tests/file_servers.py starts it (a throw-away Unix user, ed25519 key, known_hosts), stopped
  by pid and the user removed at the end;
- ``types``  — ``--batch`` subjects over each type's folder alone: MB/s per file type;
- ``rg``     — the text files (``--rg-folders``, default txt/ and log/) only: the
  connector's ``--batch`` scan against ``rg -j1 -F [-i] -c -f patterns.txt`` (``--rg-modes``)
  with the very writings the connector's automaton holds; each run twice, the second (warm
  page cache) counted; ``--profile`` adds one cProfile run of the connector and prints its
  top functions.

Each part appends a JSON line to bench/out/files.jsonl.

    python bench/files_bench.py --data /tmp/dsr-bench-files --parts local,sftp,types,rg
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.file_servers

from _common import log, write_record

from agent.config import config_from_dict
from agent.models import Subject
from agent.subjects import subject_from_pairs
from connectors.files.connector import FilesConnector
from connectors.files.matcher import Matcher

TEXT_TYPES = ("txt", "log")


def load_subjects(data: Path, count: int, seed: int) -> list[Subject]:
    people = [json.loads(line) for line in (data / "people.jsonl").open()]
    picks = random.Random(seed).sample(people, count)
    return [subject_from_pairs(f"p{p['id']}", [("email", p["email"]), ("phone", p["phone"])])
            for p in picks]


def connector(url: str, **options: Any) -> FilesConnector:
    entry = {"name": "share", "connector": "files", "url": url, **options}
    system = config_from_dict({"systems": [entry]}, base_dir=Path.cwd()).systems[0]
    return FilesConnector(system)


def timed_search(files: FilesConnector, subjects: Sequence[Subject]) -> dict[str, Any]:
    started = time.perf_counter()
    cpu = time.process_time()
    findings = list(files.search(subjects))
    seconds = time.perf_counter() - started
    report = files.last_report
    assert report is not None
    rows = sum(len(f.rows or []) for f in findings)
    return {"subjects": len(subjects), "seconds": round(seconds, 2),
            "cpu_seconds": round(time.process_time() - cpu, 2),
            "files": report.scanned, "mb": round(report.bytes / 1e6, 1),
            "mb_per_s": round(report.bytes / 1e6 / seconds, 1), "findings": len(findings),
            "subjects_found": len({f.subject for f in findings}), "rows": rows,
            "pieces": report.pieces, "candidates": report.candidates,
            "problems": report.counts()}


def single_and_batch(url: str, subjects: list[Subject], singles: int,
                     **options: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"url_kind": url.split(":", 1)[0], "single": []}
    for subject in subjects[:singles]:
        run = timed_search(connector(url, **options), [subject])
        log(f"  single: {run}")
        out["single"].append(run)
    out["batch"] = timed_search(connector(url, **options), subjects)
    log(f"  batch: {out['batch']}")
    single = sum(r["seconds"] for r in out["single"]) / max(len(out["single"]), 1)
    out["batch_over_single"] = round(out["batch"]["seconds"] / single, 2)
    return out


# --------------------------------------------------------------------------- sftp


class Sshd:
    """A loopback sshd for the share, as tests/file_servers.py starts one."""

    def __init__(self, share: Path) -> None:
        from tests.file_servers import ServerUser, _add_user, _run, start_sshd

        self.base = Path(tempfile.mkdtemp(prefix="dsr-bench-sshd-"))
        self.base.chmod(0o755)  # sshd reads authorized_keys as the user
        keys = self.base / "client"
        keys.mkdir(mode=0o700)
        for key in ("client_key", "locked_key"):
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / key)],
                 "ssh-keygen")
        self.name = f"dsrb{secrets.token_hex(4)}"
        _add_user(self.name, self.base / "home", secrets.token_urlsafe(16))
        self.user = ServerUser(self.name, "", keys / "client_key", keys / "locked_key", "")
        self.server = start_sshd(self.base / "sshd", self.user)
        self.share = share

    def url(self, folder: Path) -> str:
        return f"sftp://{self.name}@127.0.0.1:{self.server.port}{folder}"

    def options(self) -> dict[str, Any]:
        return {"key_file": str(self.user.client_key),
                "known_hosts": str(self.server.known_hosts)}

    def close(self) -> None:
        from tests.file_servers import _remove_user

        self.server.stop()  # by pid, with the sessions it forked
        _remove_user(self.name)
        shutil.rmtree(self.base, ignore_errors=True)


# --------------------------------------------------------------------------- parts


def part_local(args: argparse.Namespace, subjects: list[Subject]) -> dict[str, Any]:
    extra = {"include": args.include.split(",")} if args.include else {}
    return single_and_batch((args.data / "share").as_uri(), subjects, args.singles, **extra)


def part_sftp(args: argparse.Namespace, subjects: list[Subject]) -> dict[str, Any]:
    sshd = Sshd(args.data / "share")
    try:
        extra: dict[str, Any] = {"workers": args.sftp_workers} if args.sftp_workers else {}
        if args.include:
            extra["include"] = args.include.split(",")
        return single_and_batch(sshd.url(args.data / "share"), subjects, args.singles,
                                **sshd.options(), **extra)
    finally:
        sshd.close()


def part_types(args: argparse.Namespace, subjects: list[Subject]) -> dict[str, Any]:
    out = {}
    for kind in sorted(p.name for p in (args.data / "share").iterdir() if p.is_dir()):
        run = timed_search(connector((args.data / "share" / kind).as_uri()), subjects)
        log(f"  {kind}: {run}")
        out[kind] = run
    return {"types": out}


def rg_time(patterns: Path, folders: list[Path], ignore_case: bool) -> tuple[float, int]:
    command = ["rg", "-j1", "-F", *(["-i"] if ignore_case else []), "-c", "--no-messages",
               "-f", str(patterns), *map(str, folders)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False)
    seconds = time.perf_counter() - started
    lines = sum(int(line.rsplit(b":", 1)[1]) for line in done.stdout.splitlines())
    return seconds, lines


def part_rg(args: argparse.Namespace, subjects: list[Subject]) -> dict[str, Any]:
    share = args.data / "share"
    folders = args.rg_folders.split(",")
    matcher = Matcher.build(subjects)
    patterns = args.data / "patterns.txt"
    patterns.write_text("".join(p + "\n" for p in matcher.patterns))
    url = share.as_uri()
    include = [f"{folder}/*" for folder in folders]
    runs = [timed_search(connector(url, include=include), subjects) for _ in range(2)]
    log(f"  connector: {runs}")
    out: dict[str, Any] = {"folders": folders, "patterns": len(matcher.patterns),
                           "connector": runs[1], "connector_first": runs[0]["seconds"]}
    for mode in args.rg_modes.split(","):
        ignore_case = mode == "i"
        rg = [rg_time(patterns, [share / f for f in folders], ignore_case) for _ in range(2)]
        log(f"  rg {mode}: {rg}")
        out[f"rg_{mode}"] = {
            "command": (f"rg -j1 -F {'-i ' if ignore_case else ''}-c --no-messages "
                        f"-f patterns.txt {' '.join(folders)}"),
            "seconds": round(rg[1][0], 2), "first": round(rg[0][0], 2),
            "matching_lines": rg[1][1], "ratio": round(runs[1]["seconds"] / rg[1][0], 2)}
    if args.profile:
        out["profile"] = profile(lambda: list(connector(url, include=include).search(subjects)))
    return out


def profile(run: Callable[[], object], top: int = 25) -> list[str]:
    prof = cProfile.Profile()
    prof.enable()
    run()
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    log(buf.getvalue())
    return [line for line in buf.getvalue().splitlines() if line.strip()][-top:]


PARTS: dict[str, Callable[[argparse.Namespace, list[Subject]], dict[str, Any]]] = {
    "local": part_local, "sftp": part_sftp, "types": part_types, "rg": part_rg}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("/tmp/dsr-bench-files"))
    ap.add_argument("--parts", default="local,sftp,types,rg")
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--singles", type=int, default=1, help="single-subject passes (each whole)")
    ap.add_argument("--sftp-workers", type=int, default=0, help="0: the connector's default")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--include", default="",
                    help="local/sftp: comma-separated include globs (a part of the share)")
    ap.add_argument("--rg-folders", default=",".join(TEXT_TYPES),
                    help="folders of the share (relative) the rg part compares on")
    ap.add_argument("--rg-modes", default="i,cs",
                    help="i: rg -i (case-insensitive, as the connector); cs: without -i")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    if os.geteuid() != 0 and "sftp" in args.parts:
        raise SystemExit("the sftp part adds a Unix user: run as root")
    manifest = json.loads((args.data / "manifest.json").read_text())
    subjects = load_subjects(args.data, args.batch, args.seed)
    for name in args.parts.split(","):
        log(f"{name}: {manifest['files']} files, {manifest['bytes'] / 1e9:.2f} GB in the share")
        result = PARTS[name](args, subjects)
        share = {k: manifest[k] for k in ("files", "bytes", "types")}
        write_record("files", {"part": name, "include": args.include, "share": share,
                               "batch": args.batch, "seed": args.seed, **result})


if __name__ == "__main__":
    main()
