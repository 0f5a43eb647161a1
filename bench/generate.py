"""Build the benchmark CRM estate (the demo schema at scale) and report how long it took.

    python bench/generate.py --url postgresql+psycopg://postgres@127.0.0.1:5432/dsr_bench \
        --customers 200000
    python bench/generate.py --url sqlite:///bench/out/crm.sqlite --customers 200000

The database is created if it does not exist; its CRM tables are dropped and rebuilt.
Progress goes to stderr, a JSON summary to stdout and to bench/out/generate-<db>.jsonl.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from _common import ensure_database, log, write_result

from agent.demo import build_estate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of the target database")
    parser.add_argument("--customers", type=int, default=200_000,
                        help="generated customers, besides the demo cast (default 200000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--phones", choices=("shared", "unique"), default="shared",
                        help="shared: the drama-range numbers repeat (~280 people each at "
                             "200k); unique: one person each, later people have none")
    parser.add_argument("--no-indexes", action="store_true",
                        help="leave out the identity and foreign-key indexes")
    args = parser.parse_args(argv)
    if args.customers < 0:
        parser.error("--customers must be >= 0")

    ensure_database(args.url)
    started = time.perf_counter()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] >= 5 or done == total:
            last[0] = now
            log(f"  {done:>9,} / {total:,} customers  {now - started:6.1f} s")

    log(f"building {args.customers:,} customers (seed {args.seed}, "
        f"indexes {'off' if args.no_indexes else 'on'})")
    manifest = build_estate(args.url, customers=args.customers, seed=args.seed,
                            indexes=not args.no_indexes, progress=progress,
                            phones=args.phones)
    total = time.perf_counter() - started
    summary = {"customers": args.customers, "seed": args.seed, "indexes": manifest.indexes,
               "phones": args.phones,
               "rows": manifest.rows, "counts": manifest.counts,
               "seconds": {**{k: round(v, 2) for k, v in manifest.seconds.items()},
                           "total": round(total, 2)},
               "rows_per_second": round(manifest.rows / manifest.seconds["load"])}
    path = write_result("generate", args.url, summary)
    print(json.dumps(summary, indent=2))
    log(f"{manifest.rows:,} rows in {total:.1f} s; recorded in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
