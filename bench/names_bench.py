"""Throughput of agent.names.find_person_names over made-up notes (~1 MB by default).

    python bench/names_bench.py [--mb 1] [--seed 7] [--repeat 5]

The text mixes sentences as agents type them (names with and without titles, "Smith, Jane",
display names before e-mail addresses) with look-alikes (months, companies, streets, "Will
you...") and plain prose, names drawn from the shipped lists. Prints a JSON line: size,
names found, best-of-N seconds and characters per second (the first, cold run, which reads
the lists, is reported apart).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time

from agent.names import find_person_names, lexicon

TEMPLATES = (
    "Spoke to her husband {g} {s} about the overdue balance.",
    "Mr {s} called to query the June invoice; Mrs {i}. {s} confirmed by phone.",
    "Invoice copies to {s}, {g}; cc {g} {s} <{e}@example.com>.",
    "May 2024 price rise letter sent. Will you call back on Tuesday?",
    "Grant Thornton Ltd audit the accounts; order from Smith & Sons delivered to 12 Rose Road.",
    "Engineer attended, fault cleared at the exchange. No further action.",
    "Customer happy with the resolution; closed on the call.",
    "Please send the revised quote by Friday to the accounts team at the Leeds office.",
    "Dr {g} {s} requested a copy of the contract and the call recording.",
    "Porting request: number to move onto this account before the end of the month.",
)


def make_text(size: int, seed: int) -> str:
    rng = random.Random(seed)
    lex = lexicon()
    given = sorted(lex.given - lex.ambiguous)[:3000]
    surnames = sorted(lex.surnames)[:20000]
    parts: list[str] = []
    total = 0
    while total < size:
        g, s = rng.choice(given).title(), rng.choice(surnames).title()
        line = rng.choice(TEMPLATES).format(g=g, s=s, i=g[0], e=g.lower())
        parts.append(line)
        total += len(line) + 1
    return " ".join(parts)[:size]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    lexicon()
    load = time.perf_counter() - started
    text = make_text(int(args.mb * 1_000_000), args.seed)
    times, found = [], 0
    for _ in range(args.repeat):
        started = time.perf_counter()
        found = len(find_person_names(text))
        times.append(time.perf_counter() - started)
    best = min(times)
    print(json.dumps({"chars": len(text), "names": found, "lists_load_s": round(load, 3),
                      "best_s": round(best, 3), "chars_per_s": round(len(text) / best)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
