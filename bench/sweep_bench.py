"""Discovery sweeps over text: MB/s per core of ``agent.sweep_text`` against Presidio's
pattern recognizers and ripgrep, plus per-detector precision/recall on the labelled set.

- ``ours``     — ``SweepScanner.scan`` over ``--mb`` of generated business text (64 KiB
  documents), candidates confirmed (Luhn, mod-97, modulus, context words); CPU time of
  this one process.
- ``presidio`` — presidio-analyzer's EmailRecognizer, PhoneRecognizer,
  CreditCardRecognizer, IbanRecognizer, IpRecognizer and UkNinoRecognizer called directly
  (``recognizer.analyze(text, entities, None)``: no NLP engine, whose spaCy model cannot be
  installed here) over the first ``--presidio-mb`` of the same text. Needs
  ``pip install presidio-analyzer`` (not a project dependency).
- ``rg``       — ``rg -j1 -P --count-matches`` with our combined regex (PCRE2: the
  lookarounds need it) over the same file: the regex cost alone, no validation.
- ``labelled`` — precision and recall per detector on tests/test_detectors_sweep.py's
  labelled columns and snippets.

Appends a JSON line to bench/out/sweep.jsonl.

    python bench/sweep_bench.py --mb 50 --presidio-mb 5
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.plugins import PluginManager  # noqa: E402
from agent.sweep_text import SweepScanner  # noqa: E402
from bench._common import OUT, code_version, log, machine  # noqa: E402

# Business prose: letters mostly, with the dates, amounts and times such text holds.
_SENTENCES = [
    "Thanks for your message about the renewal of the broadband contract.",
    "We have updated the account as requested and sent a confirmation letter.",
    "The engineer visited on Tuesday and replaced the router in the comms room.",
    "Invoice {n} for {amount} GBP is now overdue by {days} days.",
    "Please find the signed contract attached; the term is {months} months.",
    "Meeting moved to {time} on {day} {month} to discuss the energy tender.",
    "The customer asked for a callback after 5pm regarding the bill.",
    "Broadband speed was {speed} Mbps on the line test this morning.",
    "Our office at {house} Market Street opens at 9 and closes at 5.",
    "Ticket escalated to tier 2 support after the second complaint.",
    "Direct debit will be collected on the {day}th of each month from now on.",
    "Tariff changed from Standard to Plus with effect from {day} {month} {year}.",
    "They want a quote for {lines} new lines and a hosted telephony system.",
    "Usage this quarter was {pct}% higher than the same period last year.",
    "The site survey found no issues with the existing cabling.",
    "Credit note issued for {amount} following the outage on {day}/{m}/{year}.",
    "Please confirm the preferred installation date and the contact on site.",
    "We apologise for the delay and have applied a goodwill credit to the account.",
    "The smart meter readings will be taken remotely from next month onwards.",
    "Renewal pricing attached; the offer is valid for 30 days.",
]


def _fill(r: random.Random, template: str) -> str:
    return template.format(
        n=f"INV-{r.randrange(100000, 999999)}",
        amount=f"{r.randrange(20, 9000)}.{r.randrange(100):02d}",
        days=r.randrange(1, 90), months=r.choice([12, 24, 36]),
        time=f"{r.randrange(8, 18)}:{r.choice(['00', '15', '30', '45'])}",
        day=r.randrange(1, 28), month=r.choice(["January", "March", "June", "October"]),
        speed=r.randrange(10, 900), house=r.randrange(1, 200), year=r.randrange(2019, 2027),
        m=r.randrange(1, 13), lines=r.randrange(2, 40), pct=r.randrange(2, 40))


def generate(mb: float, seed: int = 5, every: int = 1) -> tuple[str, int]:
    """~``mb`` MB of prose with a labelled snippet (1-2 identifiers, 0-2 look-alikes) in
    every ``every``-th paragraph (~1 KB each); every kind appears."""
    from tests.test_detectors_sweep import labelled_snippets

    r = random.Random(seed)
    snippets = [s.text for s in labelled_snippets(seed=seed, count=2000)]
    target = int(mb * 1_000_000)
    parts: list[str] = []
    size = planted = 0
    while size < target:
        paragraph = [_fill(r, r.choice(_SENTENCES)) for _ in range(r.randrange(8, 16))]
        if planted % every == 0:
            paragraph.insert(r.randrange(len(paragraph) + 1), r.choice(snippets))
        planted += 1
        text = " ".join(paragraph) + "\n\n"
        parts.append(text)
        size += len(text)
    return "".join(parts), planted


def documents(text: str, size: int = 65536) -> list[str]:
    out, start = [], 0
    while start < len(text):
        end = text.find("\n", start + size)
        end = len(text) if end < 0 else end + 1
        out.append(text[start:end])
        start = end
    return out


def bench_ours(scanner: SweepScanner, docs: list[str]) -> dict[str, object]:
    total = sum(len(d) for d in docs)
    counts: dict[str, int] = {}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for doc in docs:
        for name, n in scanner.count(doc).items():
            counts[name] = counts.get(name, 0) + n
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"mb": round(total / 1e6, 1), "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
            "mb_per_s_cpu": round(total / 1e6 / cpu, 1), "matches": counts}


def bench_presidio(docs: list[str], mb: float) -> dict[str, object]:
    import logging
    from importlib.metadata import version

    import tldextract.tldextract as tld
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        UkNinoRecognizer,
    )

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    # the e-mail recognizer's tldextract would fetch the public suffix list: the snapshot
    tld.TLD_EXTRACTOR = tld.TLDExtract(suffix_list_urls=())
    recognizers = [cls() for cls in (EmailRecognizer, PhoneRecognizer, CreditCardRecognizer,
                                     IbanRecognizer, IpRecognizer, UkNinoRecognizer)]
    chosen, size = [], 0
    for doc in docs:
        if size >= mb * 1e6:
            break
        chosen.append(doc)
        size += len(doc)
    counts: dict[str, int] = {}
    per: dict[str, float] = {}
    for rec in recognizers:  # warm up (compiles patterns)
        rec.analyze(chosen[0][:2000], rec.supported_entities, None)
    cpu0 = time.process_time()
    for rec in recognizers:
        t0 = time.process_time()
        for doc in chosen:
            for res in rec.analyze(doc, rec.supported_entities, None):
                counts[res.entity_type] = counts.get(res.entity_type, 0) + 1
        spent = time.process_time() - t0
        per[type(rec).__name__] = round(size / 1e6 / spent, 2)
    cpu = time.process_time() - cpu0
    return {"version": version("presidio-analyzer"), "mb": round(size / 1e6, 1),
            "cpu_s": round(cpu, 2),
            "mb_per_s_cpu": round(size / 1e6 / cpu, 2), "mb_per_s_per_recognizer": per,
            "matches": counts}


def bench_rg(scanner: SweepScanner, path: Path) -> dict[str, object]:
    rg = shutil.which("rg")
    if rg is None:
        return {"error": "rg not installed"}
    # the detectors' own text patterns, one a line (rg ORs them)
    patterns = [p.pattern for p in scanner._singles] + [p.pattern for p, _, _ in
                                                        scanner._literal]
    pattern_file = OUT / "sweep_pattern.txt"
    pattern_file.write_text("\n".join(patterns) + "\n", encoding="utf-8")
    cmd = [rg, "-j1", "-P", "--count-matches", "--no-filename", "-f", str(pattern_file),
           str(path)]
    subprocess.run(cmd, capture_output=True, check=False)  # warm the page cache
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    size = path.stat().st_size
    version = subprocess.run([rg, "--version"], capture_output=True,
                             text=True).stdout.splitlines()[0]
    return {"version": version, "mb": round(size / 1e6, 1), "wall_s": round(wall, 2),
            "mb_per_s": round(size / 1e6 / wall, 1), "matches": done.stdout.strip(),
            "stderr": done.stderr.strip()[:200]}


def labelled() -> dict[str, object]:
    from tests.test_detectors_sweep import (
        labelled_columns,
        labelled_snippets,
        score_columns,
        score_snippets,
    )

    manager = PluginManager().load(builtins=("plugins.detectors",), use_entry_points=False)
    scanner = SweepScanner(r.obj for r in manager.registry.all("detectors"))
    columns, snippets = labelled_columns(), labelled_snippets()
    return {
        "columns": len(columns), "snippets": len(snippets),
        "column_scores": {n: [s.tp, s.fp, s.fn, round(s.precision, 3), round(s.recall, 3)]
                          for n, s in score_columns(columns).items()},
        "text_scores": {n: [s.tp, s.fp, s.fn, round(s.precision, 3), round(s.recall, 3)]
                        for n, s in score_snippets(scanner, snippets).items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=50)
    parser.add_argument("--presidio-mb", type=float, default=5)
    parser.add_argument("--parts", default="ours,presidio,rg,labelled")
    parser.add_argument("--every", type=int, default=1,
                        help="a labelled snippet in every N-th paragraph")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    parts = set(args.parts.split(","))

    manager = PluginManager().load(builtins=("plugins.detectors",), use_entry_points=False)
    scanner = SweepScanner(r.obj for r in manager.registry.all("detectors"))
    log(f"generating {args.mb} MB of text")
    text, planted = generate(args.mb, every=args.every)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "sweep_text.txt"
    path.write_text(text, encoding="utf-8")
    docs = documents(text)
    result: dict[str, object] = {"paragraphs": planted, "snippet_every": args.every}
    if "ours" in parts:
        log("ours")
        result["ours"] = bench_ours(scanner, docs)
        log(json.dumps(result["ours"]))
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(bench_ours, scanner, docs[: max(1, len(docs) // 10)])
        pstats.Stats(prof).sort_stats("cumulative").print_stats(15)
    if "presidio" in parts:
        log("presidio")
        result["presidio"] = bench_presidio(docs, args.presidio_mb)
        log(json.dumps(result["presidio"]))
    if "rg" in parts:
        log("rg")
        result["rg"] = bench_rg(scanner, path)
        log(json.dumps(result["rg"]))
    if "labelled" in parts:
        log("labelled")
        result["labelled"] = labelled()
        log(json.dumps(result["labelled"]))
    record = {"at": datetime.now(UTC).isoformat(timespec="seconds"),
              "command": " ".join([Path(sys.executable).name, *sys.argv]),
              "code": code_version(), "machine": machine(), **result}
    with (OUT / "sweep.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, default=str) + "\n")


if __name__ == "__main__":
    main()
