"""Redacting an e-mail (.eml): headers and every text part, re-encoded as they came.

A text part's body is decoded (base64, quoted-printable), redacted, and encoded again with
the same transfer encoding and charset. A header is redacted in its decoded form and, when
it held non-ASCII text, encoded again (RFC 2047). Attachments that are not text are left as
they are: verification decodes every part, so a file whose attachment still names the
subject fails loudly instead of passing (it needs a person).
"""

from __future__ import annotations

import base64
import email
import io
import quopri
import re
from collections.abc import Iterator
from email.header import Header, decode_header, make_header
from email.message import Message
from email.policy import compat32

from agent.errors import ConnectorError
from connectors.files.rewrite import MARKER, Rewritten

MAX_EML_BYTES = 64 << 20
_ADDRESS_HEADERS = ("from", "to", "cc", "bcc", "reply-to", "sender", "subject",
                    "return-path", "delivered-to", "x-original-to")


def read_eml(stream: io.BufferedIOBase | object) -> bytes:
    data = stream.read(MAX_EML_BYTES + 1)  # type: ignore[attr-defined]
    if len(data) > MAX_EML_BYTES:
        raise ConnectorError(f"an e-mail larger than {MAX_EML_BYTES >> 20} MiB is not "
                             "rewritten")
    return bytes(data)


def parse(data: bytes) -> Message:
    return email.message_from_bytes(data, policy=compat32)


def redact_eml(data: bytes, pattern: re.Pattern[bytes]) -> Rewritten:
    try:
        message = parse(data)
    except (ValueError, LookupError):
        raise ConnectorError("an e-mail that cannot be parsed is not rewritten") from None
    count = 0
    for part in message.walk():
        count += _headers(part, pattern)
        if part.is_multipart():
            continue
        count += _body(part, pattern)
    out = io.BytesIO(message.as_bytes(policy=compat32) if count else b"")
    return Rewritten(out, count)


def _headers(part: Message, pattern: re.Pattern[bytes]) -> int:
    count = 0
    for name in list(dict.fromkeys(k.lower() for k in part)):
        if name not in _ADDRESS_HEADERS and not name.startswith("x-"):
            continue
        values = part.get_all(name) or []
        new_values, changed = [], False
        for value in values:
            text = str(make_header(decode_header(str(value))))
            new, n = pattern.subn(MARKER, text.encode("utf-8"))
            count += n
            changed |= bool(n)
            new_values.append(new.decode("utf-8"))
        if changed:
            del part[name]
            for text in new_values:
                part[name] = text if text.isascii() else Header(text, "utf-8")
    return count


def _body(part: Message, pattern: re.Pattern[bytes]) -> int:
    if part.get_content_maintype() != "text":
        return 0
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        return 0
    new, n = pattern.subn(MARKER, raw)
    if not n:
        return 0
    encoding = (part.get("Content-Transfer-Encoding") or "7bit").strip().lower()
    if encoding == "base64":
        part.set_payload(base64.encodebytes(new).decode("ascii"))
    elif encoding == "quoted-printable":
        part.set_payload(quopri.encodestring(new).decode("ascii"))
    else:
        charset = part.get_content_charset() or "utf-8"
        part.set_payload(new.decode(charset, "replace"), None)
    return n


def decoded_views(data: bytes) -> Iterator[tuple[str, bytes]]:
    """What verification scans: the raw file, each part's decoded headers and body."""
    yield "raw", data
    for number, part in enumerate(parse(data).walk()):
        headers = "\n".join(str(make_header(decode_header(str(v)))) for v in part.values())
        yield f"part {number} headers", headers.encode("utf-8")
        if not part.is_multipart():
            body = part.get_payload(decode=True)
            if isinstance(body, bytes):
                yield f"part {number} body", body
