"""The identifier options shared by `dsr search`, `dsr request create` and `reapply`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from agent.subjects import parse_id_option

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = (
    click.option("--email", multiple=True, metavar="E", help="E-mail address (repeatable)."),
    click.option("--phone", multiple=True, metavar="P", help="Phone number, any UK format."),
    click.option("--name", metavar="N", help="The person's name (weak on its own)."),
    click.option("--postcode", metavar="PC", help="UK postcode (weak on its own)."),
    click.option("--dob", metavar="DATE", help="Date of birth (weak on its own)."),
    click.option("--id", "ids", multiple=True, metavar="TYPE=VALUE",
                 help="Other identifier: account, customer_id, contact_id, cookie_id, "
                      "device_id, company_number, ni_number, bank_account (repeatable)."),
)


def identifier_options(func: F) -> F:
    for option in reversed(_OPTIONS):
        func = option(func)
    return func


def identifier_pairs(email: tuple[str, ...] = (), phone: tuple[str, ...] = (),
                     name: str | None = None, postcode: str | None = None,
                     dob: str | None = None, ids: tuple[str, ...] = ()
                     ) -> list[tuple[str, object]]:
    pairs: list[tuple[str, object]] = [("email", e) for e in email]
    pairs += [("phone", p) for p in phone]
    pairs += [(k, v) for k, v in (("name", name), ("postcode", postcode), ("dob", dob))
              if v is not None]
    pairs += [parse_id_option(text) for text in ids]
    return pairs
