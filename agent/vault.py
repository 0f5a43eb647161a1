"""Sealed storage for what an open request must remember: the person's identifiers and a
rectification's new values.

The state store never holds them in clear. They are sealed (Fernet: AES-128-CBC + HMAC)
under a key derived from the agent's HMAC key, and the seal is dropped when the request
closes, leaving only keyed digests; reapplying an erasure after a restore asks for the
identifiers again and checks them against those digests.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from agent.errors import DsrError
from agent.keys import DigestKey


class Vault:
    def __init__(self, key: DigestKey) -> None:
        # seal under the current HMAC key, open under any (a rotation keeps open requests)
        self._fernet = MultiFernet([Fernet(base64.urlsafe_b64encode(k))
                                    for k in key.derive_all("request vault v1")])

    def seal(self, data: Any) -> str:
        return self._fernet.encrypt(json.dumps(data, sort_keys=True).encode()).decode("ascii")

    def open(self, token: str) -> Any:
        try:
            return json.loads(self._fernet.decrypt(token.encode("ascii")))
        except (InvalidToken, ValueError) as exc:
            # a different HMAC key than the one the request was sealed with, or a damaged row
            raise DsrError("the request's sealed identifiers cannot be opened with this "
                           "agent's key (was the HMAC key file replaced?)") from exc
