"""The demo CRM estate: a CRM shaped like the policy's business, with named demo people.

``build_estate(url)`` builds it in SQLite, PostgreSQL or MariaDB and returns a
``Manifest`` saying who is in it and which records are (and are not) theirs.
"""

from agent.demo.estate import (
    EstateGenerator,
    build_estate,
    cast_manifest,
    present_indexes,
    set_indexes,
)
from agent.demo.manifest import CastMember, Manifest

__all__ = ["CastMember", "EstateGenerator", "Manifest", "build_estate", "cast_manifest",
           "present_indexes", "set_indexes"]
