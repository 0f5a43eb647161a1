"""The files connector through the connector conformance kit, over a mounted folder, SFTP
(OpenSSH) and SMB (Samba): a small share seeded afresh for every check.

Jane Doe (jane.doe@example.com) is the subject: a row of a contacts list and a letter. The
look-alike is another Jane Doe (jane.doe@example.co.uk) with a list and a letter of her
own; her row is a same-name row the subject's search must drop. Erasure runs for real: the subject's
row leaves the list (the other rows stay byte for byte) and the letter is redacted; suppress,
restrict and rectify are not declared, so their checks are listed as not applicable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from agent.testing import ConnectorConformance as TestFilesConformance
from agent.testing import Seed

if TYPE_CHECKING:
    from tests.file_servers import Share

pytest_plugins = ("tests.file_servers",)  # file_servers, make_share
__all__ = ["TestFilesConformance"]


@pytest.fixture(params=("local", "sftp", "smb"))  # tests.file_servers.FILE_TRANSPORTS
def dsr_seed(request: pytest.FixtureRequest, make_share: Callable[..., Share]) -> Seed:
    share = make_share(request.param)
    share.write("lists/contacts.csv",
                "name,email,phone\n"
                "Bob Smith,bob.smith@example.com,01632 960333\n"
                "Jane Doe,jane.doe@example.com,07700 900111\n")
    share.write("lists/other-list.csv",
                "name,email,phone\n"
                "Jane Doe,jane.doe@example.co.uk,07700 900222\n")
    share.write("letters/2024-03-01.txt",
                # no full name here: the look-alike would match it weakly, and erasure
                # redacts the subject's name from their letter (a change to her state)
                "Dear Ms Doe,\nwe write to jane.doe@example.com about your contract.\n")
    share.write("letters/2024-04-02.txt",
                "Dear customer,\nwe write to jane.doe@example.co.uk about your order.\n")
    return Seed(
        system=share.entry("share"),
        subject={"email": ["jane.doe@example.com"], "name": "Jane Doe"},
        lookalike={"email": ["jane.doe@example.co.uk"], "name": "Jane Doe"},
    )
