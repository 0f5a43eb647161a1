"""A generated file share for the files connector's benchmark (issue 4).

Mixed types, one folder per type so a type can be searched alone (MB/s per type):
``txt/ log/ csv/ jsonl/ json/`` hold most of the bytes (written directly from pools of
precomputed lines), ``xlsx/ docx/ pdf/ eml/`` are fewer, smaller files made by the real
libraries (openpyxl, python-docx, fpdf2, the stdlib ``email``).

People are made up: ``--people`` of them (default 200,000), each with an e-mail at
example.com / example.co.uk; the first 2,000 also hold one phone each from Ofcom's drama
ranges (07700 900000-900999, 01632 960000-960999), so a phone belongs to one person.
Benchmark subjects are drawn from those 2,000 (e-mail + phone). Mentions are written in the
usual writings (``07700 900123``, ``+44 7700 900123``, ``07700900123``, e-mail in any case).

``people.jsonl`` beside the share lists the people who hold a phone (the subjects' pool).

    python bench/files_generate.py --out /tmp/dsr-bench-files --files 20000 --gb 2
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import sys
import time
from multiprocessing import Pool
from pathlib import Path

# files per type (shares of --files) and bytes per type (shares of --gb); the library
# formats get no byte share: their size follows from their row/paragraph counts
COUNT_SHARE = {"txt": 0.25, "log": 0.15, "csv": 0.20, "jsonl": 0.10, "json": 0.125,
               "xlsx": 0.05, "docx": 0.05, "pdf": 0.035, "eml": 0.04}
BYTE_SHARE = {"txt": 0.32, "log": 0.25, "csv": 0.25, "jsonl": 0.13, "json": 0.05}
PHONE_HOLDERS = 2000
FIRST = ["Alice", "Bram", "Chloe", "Dev", "Erin", "Farah", "Gus", "Hana", "Ivo", "Jade",
         "Kofi", "Lena", "Milo", "Nia", "Owen", "Priya", "Quinn", "Rosa", "Sami", "Tess",
         "Umar", "Vera", "Wes", "Xena", "Yusuf", "Zara"]
LAST = ["Abbott", "Barker", "Carver", "Dunmore", "Ellery", "Fenwick", "Garside", "Holt",
        "Ingram", "Jessop", "Kettle", "Lomax", "Marsh", "Nolan", "Oakes", "Pryce", "Quarry",
        "Rudd", "Slater", "Tranter", "Upton", "Vance", "Whitlow", "Yardley", "Zouch"]
_WORD_TEXT = ("order delivery invoice account customer call back engineer install broadband "
              "router contract renewal upgrade tariff billing refund complaint resolved "
              "pending appointment confirmed Monday Tuesday Friday morning afternoon "
              "reference number payment card direct debit plan SIM handset signal coverage "
              "fault ticket escalated manager quote tender credit report letter agreed "
              "discount loyalty offer")
WORDS = _WORD_TEXT.split()
CITIES = ["Leeds", "York", "Bristol", "Norwich", "Derby", "Bath", "Truro", "Ely", "Hull"]


# --------------------------------------------------------------------------- people

def person(i: int) -> dict[str, str | None]:
    first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
    domain = "example.com" if i % 3 else "example.co.uk"
    phone = None
    if i < PHONE_HOLDERS:  # one number per person: 1,000 mobiles, 1,000 landlines
        phone = f"07700 900{i:03d}" if i < 1000 else f"01632 960{i - 1000:03d}"
    return {"id": i, "first": first, "last": last, "name": f"{first} {last}",
            "email": f"{first.lower()}.{last.lower()}{i}@{domain}", "phone": phone}


def writings(phone: str) -> list[str]:
    """A few of the ways people write a UK number (all in the connector's list)."""
    trunk = phone.replace(" ", "")
    nsn = trunk[1:]
    return [phone, trunk, f"+44 {nsn[:4]} {nsn[4:]}", f"{trunk[:5]}-{trunk[5:8]}-{trunk[8:]}",
            f"+44{nsn}"]


class Pools:
    """Precomputed lines, so the bulk formats are joins of random picks (fast)."""

    def __init__(self, people: int, seed: int, holders: float) -> None:
        rng = random.Random(seed)
        self.people = people
        self.holders = holders
        self.filler = [self._sentence(rng) for _ in range(4000)]
        self.log_lines = [f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
                          f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z INFO "
                          f"svc={rng.choice(WORDS)} req={rng.randint(10**6, 10**7)} "
                          f"{self._sentence(rng)}" for _ in range(4000)]

    @staticmethod
    def _sentence(rng: random.Random) -> str:
        words = rng.choices(WORDS, k=rng.randint(6, 16))
        words.insert(rng.randrange(len(words)), str(rng.randint(1, 99999)))
        return " ".join(words).capitalize() + "."

    def who(self, rng: random.Random) -> dict[str, str | None]:
        # a share (--holders) of mentions name a phone holder (the subjects' pool): the
        # people asking are a small part of everyone a share holds
        i = (rng.randrange(PHONE_HOLDERS) if rng.random() < self.holders
             else rng.randrange(self.people))
        return person(i)

    def mention(self, rng: random.Random) -> str:
        p = self.who(rng)
        email = str(p["email"])
        if rng.random() < 0.2:
            email = email.upper() if rng.random() < 0.5 else email.title()
        parts = [f"Spoke to {p['name']} ({email})"]
        if p["phone"]:
            parts.append(f"on {rng.choice(writings(str(p['phone'])))}")
        return " ".join(parts) + "."

    def row(self, rng: random.Random) -> list[str]:
        p = self.who(rng)
        phone = rng.choice(writings(str(p["phone"]))) if p["phone"] else ""
        return [str(p["first"]), str(p["last"]), str(p["email"]), phone,
                rng.choice(CITIES), f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"]


HEADER = ["First Name", "Surname", "Email", "Mobile", "Town", "Signed up"]
POOLS: Pools | None = None


# --------------------------------------------------------------------------- file makers

def text_bytes(rng: random.Random, size: int, lines: list[str], pools: Pools) -> bytes:
    out: list[str] = []
    total = 0
    while total < size:
        chunk = rng.choices(lines, k=200)
        chunk[rng.randrange(200)] = pools.mention(rng)  # one mention per 200 lines
        text = "\n".join(chunk) + "\n"
        out.append(text)
        total += len(text)
    return "".join(out).encode()


def csv_bytes(rng: random.Random, size: int, pools: Pools) -> bytes:
    out = [",".join(HEADER) + "\n"]
    total = 0
    while total < size:
        line = ",".join(pools.row(rng)) + "\n"
        out.append(line)
        total += len(line)
    return "".join(out).encode()


def jsonl_bytes(rng: random.Random, size: int, pools: Pools) -> bytes:
    out: list[str] = []
    total = 0
    while total < size:
        line = json.dumps(dict(zip(HEADER, pools.row(rng), strict=True))) + "\n"
        out.append(line)
        total += len(line)
    return "".join(out).encode()


def json_bytes(rng: random.Random, size: int, pools: Pools) -> bytes:
    records = []
    total = 0
    while total < size:
        rec = {"ticket": rng.randint(10**5, 10**6), "notes": rng.choice(pools.filler),
               "contact": dict(zip(HEADER, pools.row(rng), strict=True))}
        records.append(rec)
        total += 200
    return json.dumps({"tickets": records}, indent=1).encode()


def xlsx_bytes(rng: random.Random, pools: Pools) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    for sheet in range(rng.choice((1, 1, 2))):
        ws = book.create_sheet(f"List {sheet + 1}")
        ws.append(HEADER)
        for _ in range(rng.randint(50, 600)):
            ws.append(pools.row(rng))
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def docx_bytes(rng: random.Random, pools: Pools) -> bytes:
    from docx import Document

    doc = Document()
    doc.add_heading(f"Quotation Q-{rng.randint(1000, 9999)}", 1)
    for _ in range(rng.randint(5, 30)):
        doc.add_paragraph(" ".join(rng.choices(pools.filler, k=4)))
    doc.add_paragraph(pools.mention(rng))
    table = doc.add_table(rows=1, cols=3)
    for i, label in enumerate(("Item", "Qty", "Price")):
        table.rows[0].cells[i].text = label
    for _ in range(rng.randint(2, 8)):
        cells = table.add_row().cells
        cells[0].text, cells[1].text = rng.choice(WORDS), str(rng.randint(1, 20))
        cells[2].text = f"{rng.randint(5, 900)}.00"
    doc.sections[0].footer.paragraphs[0].text = "Example Telecom Ltd, registered in England"
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def pdf_bytes(rng: random.Random, pools: Pools) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=10)
    for page in range(rng.randint(1, 3)):
        pdf.add_page()
        pdf.multi_cell(0, 5, "Credit report / tender " + str(rng.randint(10**4, 10**5)),
                       new_x="LMARGIN", new_y="NEXT")
        body = " ".join(rng.choices(pools.filler, k=25))
        if page == 0:
            body += " " + pools.mention(rng)
        pdf.multi_cell(0, 5, body, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def eml_bytes(rng: random.Random, pools: Pools) -> bytes:
    from email.message import EmailMessage

    sender, to = pools.who(rng), pools.who(rng)
    msg = EmailMessage()
    msg["From"] = f"{sender['name']} <{sender['email']}>"
    msg["To"] = f"{to['name']} <{to['email']}>"
    msg["Subject"] = f"Re: ticket {rng.randint(10**5, 10**6)}"
    msg.set_content("\n".join(rng.choices(pools.filler, k=rng.randint(5, 40)))
                    + "\n" + pools.mention(rng) + "\n")
    if rng.random() < 0.3:
        rows = "\n".join(",".join(pools.row(rng)) for _ in range(rng.randint(5, 50)))
        msg.add_attachment((",".join(HEADER) + "\n" + rows + "\n").encode(),
                           maintype="text", subtype="csv", filename="list.csv")
    return bytes(msg)


def make(job: tuple[str, int, int, int, str]) -> int:
    kind, index, size, seed, out = job
    assert POOLS is not None
    rng = random.Random(seed * 1_000_003 + index)
    if kind in ("txt", "log"):
        data = text_bytes(rng, size, POOLS.filler if kind == "txt" else POOLS.log_lines, POOLS)
    elif kind == "csv":
        data = csv_bytes(rng, size, POOLS)
    elif kind == "jsonl":
        data = jsonl_bytes(rng, size, POOLS)
    elif kind == "json":
        data = json_bytes(rng, size, POOLS)
    else:
        data = {"xlsx": xlsx_bytes, "docx": docx_bytes, "pdf": pdf_bytes,
                "eml": eml_bytes}[kind](rng, POOLS)
    target = Path(out) / kind / f"{index // 500:03d}" / f"{kind}-{index:06d}.{kind}"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return len(data)


def plan(files: int, gib: float, seed: int, out: Path) -> list[tuple[str, int, int, int, str]]:
    rng = random.Random(seed)
    jobs = []
    total_bytes = gib * 2**30
    for kind, share in COUNT_SHARE.items():
        count = round(files * share)
        mean = total_bytes * BYTE_SHARE.get(kind, 0) / max(count, 1)
        for i in range(count):
            # sizes spread 0.2x-3x the mean (a few big logs and lists, many small files)
            size = int(mean * rng.choice((0.2, 0.3, 0.5, 0.7, 1.0, 1.3, 1.5, 3.0)))
            jobs.append((kind, i, size, seed, str(out / "share")))
    rng.shuffle(jobs)  # mix the slow library formats across the workers
    return jobs


def main() -> None:
    global POOLS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="/tmp/dsr-bench-files", type=Path)
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--gb", type=float, default=2.0, help="GiB in txt/log/csv/jsonl/json")
    ap.add_argument("--people", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--holders", type=float, default=0.02,
                    help="share of mentions and rows naming one of the 2,000 phone holders")
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    if (args.out / "share").exists():
        shutil.rmtree(args.out / "share")
    args.out.mkdir(parents=True, exist_ok=True)
    args.out.chmod(0o755)  # the SFTP bench's server-side user must reach it
    POOLS = Pools(args.people, args.seed, args.holders)  # inherited by the forked workers
    jobs = plan(args.files, args.gb, args.seed, args.out)
    started = time.perf_counter()
    sizes: dict[str, list[int]] = {}
    with Pool(args.processes) as pool:
        for job, size in zip(jobs, pool.imap(make, jobs, chunksize=8), strict=True):
            sizes.setdefault(job[0], []).append(size)
    seconds = time.perf_counter() - started
    with (args.out / "people.jsonl").open("w") as fh:
        for i in range(PHONE_HOLDERS):
            fh.write(json.dumps(person(i)) + "\n")
    summary = {"files": sum(len(v) for v in sizes.values()),
               "bytes": sum(sum(v) for v in sizes.values()), "seconds": round(seconds, 1),
               "types": {k: {"files": len(v), "bytes": sum(v)} for k, v in sorted(sizes.items())},
               "args": {k: str(v) for k, v in vars(args).items()}}
    (args.out / "manifest.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1), file=sys.stderr)


if __name__ == "__main__":
    main()
