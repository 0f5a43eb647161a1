"""E-mail messages (.eml, RFC 5322), with the standard library's parser (policy default).

Pieces, in order:

- ``header:From``, ``header:Sender``, ``header:Reply-To``, ``header:To``, ``header:Cc``,
  ``header:Bcc``, ``header:Subject`` (each occurrence its own piece, decoded:
  ``Jane Doe <jane.doe@example.com>``);
- ``body:N``: the Nth text part (from 1), HTML turned into text (scripts and styles
  dropped, ``mailto:``/``tel:`` link targets kept after the link text);
- every attachment (and every attached message, ``message/rfc822``) through
  ``context.nested`` as ``attachment:NAME`` — so ``attachment:quote.docx/word/document.xml``
  or ``attachment:list.csv`` with rows.

The whole message is parsed in memory: a message over ``MAX_MESSAGE_BYTES`` is refused.
"""

from __future__ import annotations

import email.header
import io
import mimetypes
import re
from collections.abc import Iterator
from email import policy
from email.feedparser import BytesFeedParser
from email.message import EmailMessage, Message
from html.parser import HTMLParser
from typing import BinaryIO

from agent.extractors import ExtractContext, ExtractionError, Extractor, TextPiece
from plugins.extractors._common import FALLBACK, known_binary

MAX_MESSAGE_BYTES = 256 << 20
HEADERS = ("From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Subject")
_HEADER_LINE = re.compile(rb"^[!-9;-~]+:")
_MAIL_HEADERS = {b"from", b"received", b"mime-version", b"return-path", b"delivered-to",
                 b"message-id"}


class EmlExtractor(Extractor):
    name = "eml"
    extensions = (".eml",)
    media_types = ("message/rfc822",)

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        if looks_like_mail(head):
            return True
        return filename.lower().endswith(cls.extensions) and not known_binary(head)

    def extract(self, stream: BinaryIO, filename: str, context: ExtractContext
                ) -> Iterator[TextPiece]:
        message = _parse(stream)
        for name in HEADERS:
            for value in _header_values(message, name):
                if value.strip():
                    yield TextPiece(value, where=f"header:{name}", offset=0)
        yield from _Walker(context).walk(message)


def looks_like_mail(head: bytes) -> bool:
    """Header lines from the first line to a blank one, at least two, one of them a mail
    header (From, Received, MIME-Version, Return-Path, Delivered-To, Message-ID)."""
    first = head[:1000].split(b"\n", 1)[0].rstrip(b"\r")
    if not (first.startswith(b"From ") or _HEADER_LINE.match(first)):
        return False  # most files: decided on the first line, without splitting the head
    block = head.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    lines = [line for line in block.split(b"\n") if line and not line[:1].isspace()]
    if lines and lines[0].startswith(b"From "):  # an mbox separator line
        lines = lines[1:]
    if len(lines) < 2 or not all(_HEADER_LINE.match(line) for line in lines[:2]):
        return False
    names = {line.split(b":", 1)[0].strip().lower() for line in lines
             if _HEADER_LINE.match(line)}
    return bool(names & _MAIL_HEADERS)


def _parse(stream: BinaryIO) -> EmailMessage:
    parser = BytesFeedParser(policy=policy.default)
    size = 0
    while chunk := stream.read(1 << 20):
        size += len(chunk)
        if size > MAX_MESSAGE_BYTES:
            raise ExtractionError(f"message over {MAX_MESSAGE_BYTES} bytes, not read")
        parser.feed(chunk)
    return parser.close()  # type: ignore[return-value]


def _header_values(message: Message, name: str) -> list[str]:
    try:
        return [str(v) for v in message.get_all(name) or []]
    except Exception:  # a malformed header the policy cannot parse: decode it plainly
        raw = [v for k, v in message.raw_items() if k.lower() == name.lower()]
        return [_decode_header(v) for v in raw]


def _decode_header(raw: object) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(str(raw))))
    except Exception:
        return str(raw)


class _Walker:
    """The message's parts in order: text parts as ``body:N``, the rest nested."""

    def __init__(self, context: ExtractContext) -> None:
        self.context = context
        self.bodies = 0
        self.attachments = 0

    def walk(self, part: Message) -> Iterator[TextPiece]:
        content_type = part.get_content_type()
        if part.is_multipart() and content_type != "message/rfc822":
            for sub in part.get_payload():  # type: ignore[union-attr]
                yield from self.walk(sub)
        elif content_type == "message/rfc822":
            yield from self._attached_message(part)
        elif part.get_content_maintype() == "text" and not _is_attachment(part):
            text = _text_of(part)
            if text.strip():
                self.bodies += 1
                yield TextPiece(text, where=f"body:{self.bodies}", offset=0)
        else:
            yield from self._attachment(part)

    def _attachment(self, part: Message) -> Iterator[TextPiece]:
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes) or not payload:
            return
        name = self._name(part, mimetypes.guess_extension(part.get_content_type()) or "")
        yield from self.context.nested(io.BytesIO(payload), name, f"attachment:{name}")

    def _attached_message(self, part: Message) -> Iterator[TextPiece]:
        inner = part.get_payload()
        if isinstance(inner, list):
            inner = inner[0] if inner else None
        if not isinstance(inner, Message):
            return
        data = inner.as_bytes(policy=policy.compat32)
        name = self._name(part, ".eml")
        yield from self.context.nested(io.BytesIO(data), name, f"attachment:{name}")

    def _name(self, part: Message, extension: str) -> str:
        self.attachments += 1
        try:
            name = part.get_filename()
        except Exception:
            name = None
        name = (name or f"part-{self.attachments}{extension}").replace("/", "_")
        return name.replace("\\", "_").strip() or f"part-{self.attachments}{extension}"


def _is_attachment(part: Message) -> bool:
    return part.get_content_disposition() == "attachment"


def _text_of(part: Message) -> str:
    try:
        text = part.get_content()  # type: ignore[attr-defined]
    except (LookupError, UnicodeError, AttributeError):
        data = part.get_payload(decode=True)
        text = data.decode("utf-8", FALLBACK) if isinstance(data, bytes) else ""
    if not isinstance(text, str):
        return ""
    if part.get_content_subtype() == "html":
        return html_to_text(text)
    return text


class _HtmlText(HTMLParser):
    _SKIP = {"script", "style", "head", "title"}
    _BLOCK = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table",
              "ul", "ol", "blockquote", "pre", "hr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0
        self._links: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.out.append("\n")
        if tag == "a":
            href = dict(attrs).get("href") or ""
            keep = href.lower().startswith(("mailto:", "tel:"))
            self._links.append(href if keep else None)
        elif tag == "td":
            self.out.append("\t")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCK:
            self.out.append("\n")
        elif tag == "a" and self._links:
            href = self._links.pop()
            if href:
                self.out.append(f" <{href}>")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.out.append(data)


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    return re.sub(r"\n{3,}", "\n\n", "".join(parser.out))
