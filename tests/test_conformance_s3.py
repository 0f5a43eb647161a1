"""The s3 connector through the connector conformance kit, on a versioned and an
unversioned bucket of a real S3 endpoint (moto's server over HTTP), seeded afresh for every
check.

Jane Doe (jane.doe@example.com) is the subject: a row of a contacts list and a letter. The
look-alike is another Jane Doe (jane.doe@example.co.uk) with a list and a letter of her own.
Erasure runs for real (her row leaves the list, the letter is redacted, and on the versioned
bucket the versions read are deleted); suppress and restrict tag the objects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from agent.testing import ConnectorConformance as TestS3Conformance
from agent.testing import Seed

if TYPE_CHECKING:
    from tests.s3_server import Bucket

pytest_plugins = ("tests.s3_server",)
__all__ = ["TestS3Conformance"]


@pytest.fixture(params=("versioned", "unversioned"))
def dsr_seed(request: pytest.FixtureRequest, make_bucket: Callable[..., Bucket]) -> Seed:
    bucket = make_bucket(versioned=request.param == "versioned")
    bucket.put("lists/contacts.csv", "name,email,phone\n"
               "Bob Smith,bob.smith@example.com,01632 960333\n"
               "Jane Doe,jane.doe@example.com,07700 900111\n")
    bucket.put("lists/other-list.csv", "name,email,phone\n"
               "Jane Doe,jane.doe@example.co.uk,07700 900222\n")
    bucket.put("letters/2024-03-01.txt",
               "Dear Ms Doe,\nwe write to jane.doe@example.com about your contract.\n")
    bucket.put("letters/2024-04-02.txt",
               "Dear customer,\nwe write to jane.doe@example.co.uk about your order.\n")
    return Seed(system=bucket.entry("bucket"),
                subject={"email": ["jane.doe@example.com"], "name": "Jane Doe"},
                lookalike={"email": ["jane.doe@example.co.uk"], "name": "Jane Doe"})
