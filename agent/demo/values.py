"""Made-up identifier values: Ofcom drama-range phones, example-domain e-mails, IMEIs.

Phones come only from Ofcom's ranges reserved for drama (07700 900000-900999 and
01632 960000-960999). The first hundred of each are reserved for the named demo people,
so their numbers stay unique in the estate however large it grows;
the generated population cycles through the other 1,800 numbers and, at scale, repeats
them, written in many formats as real CRMs do.
"""

from __future__ import annotations

import random
import uuid

MOBILE_STEM = "07700 900"
LANDLINE_STEM = "01632 960"
RESERVED_BELOW = 100  # 900000-900099 and 960000-960099 never go to generated people
EXAMPLE_DOMAINS = ("example.com", "example.co.uk")


def mobile(n: int) -> str:
    return f"{MOBILE_STEM}{n:03d}"


def landline(n: int) -> str:
    return f"{LANDLINE_STEM}{n:03d}"


def reserved_numbers() -> tuple[str, ...]:
    return tuple(mobile(n) for n in range(RESERVED_BELOW)) + tuple(
        landline(n) for n in range(RESERVED_BELOW))


def generated_numbers(kind: str) -> list[str]:
    make = mobile if kind == "mobile" else landline
    return [make(n) for n in range(RESERVED_BELOW, 1000)]


def phone_format(national: str, style: int) -> str:
    """One of the ways CRMs store a UK number, given ``07700 900123`` or ``01632 960123``."""
    digits = national.replace(" ", "")
    nsn = digits[1:]
    head, tail = nsn[:4], nsn[4:]
    forms = (
        national,                       # 07700 900123
        digits,                         # 07700900123
        f"+44{nsn}",                    # +447700900123
        f"+44 {head} {tail}",           # +44 7700 900123
        f"+44 (0){head} {tail}",        # +44 (0)7700 900123
        f"0{head}-{tail}",              # 07700-900123
    )
    return forms[style % len(forms)]


PHONE_STYLES = 6


def email(first: str, last: str, seq: int, rng: random.Random) -> str:
    """Unique per ``seq``; sometimes written with capitals, as people type them."""
    domain = EXAMPLE_DOMAINS[seq % 2]
    local = f"{first}.{last}.{seq}".replace(" ", "").replace("'", "")
    if rng.random() < 0.1:
        return f"{local}@{domain}"
    return f"{local}@{domain}".lower()


def role_email(role: str, account: str) -> str:
    """A company's shared mailbox (accounts+can000123@…): unique, and a role address."""
    return f"{role}+{account.replace('-', '').lower()}@example.co.uk"


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def imei(tac: str, serial: int) -> str:
    body = f"{tac}{serial:06d}"
    return body + luhn_digit(body)


def cookie_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def documentation_ip(rng: random.Random) -> str:
    """An address from the RFC 5737 documentation ranges."""
    net = rng.choice(("192.0.2", "198.51.100", "203.0.113"))
    return f"{net}.{rng.randrange(1, 255)}"
