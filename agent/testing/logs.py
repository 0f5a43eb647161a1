"""Capture everything a connector logs or prints, before any redaction, to look for PII.

Logging is set up the way ``dsr`` sets it up (``agent.logging.configure`` at debug level, so
chatty drivers stay at WARNING as in production), then three taps are added: the raw
structlog event dicts (ahead of the redactor: the redactor is a safety net, a connector
must not rely on it), the raw standard-library records, and whatever reaches file
descriptors 1 and 2 (pytest's ``capfd``).
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import structlog

from agent import logging as dsr_logging

_NOISY = dsr_logging.NOISY_LOGGERS


@dataclass(frozen=True)
class Leak:
    """Where a protected value showed up: never the value itself."""

    whose: str
    kind: str
    where: str

    def describe(self) -> str:
        return f"{self.kind} of the {self.whose} in {self.where}"


class _RawHandler(logging.Handler):
    def __init__(self, sink: list[tuple[str, str]]) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, dict):
            return  # a structlog event: already taken raw by the processor tap
        try:
            text = record.getMessage()
        except Exception:  # a malformed record still shows its parts
            text = f"{record.msg!r} {record.args!r}"
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.sink.append((f"log record of logger {record.name!r}", text))


class LogCapture:
    """Collects (where, text) pairs; ``leaks(values)`` says which values appeared where."""

    def __init__(self, capfd: pytest.CaptureFixture[str]) -> None:
        self.capfd = capfd
        self.entries: list[tuple[str, str]] = []
        self.rendered = io.StringIO()

    def _tap(self, _logger: Any, _name: str,
             event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event = event_dict.get("event", "?")
        self.entries.append((f"structlog event {event!r}",
                             json.dumps(dict(event_dict), default=repr, sort_keys=True)))
        return event_dict

    @contextmanager
    def installed(self) -> Iterator[LogCapture]:
        saved_structlog = structlog.get_config()
        root = logging.getLogger()
        saved_root = (list(root.handlers), root.level)
        saved_noisy = {n: logging.getLogger(n).level for n in _NOISY}
        dsr_logging.configure("debug", stream=self.rendered, pretty=False)
        structlog.configure(processors=[self._tap, *structlog.get_config()["processors"]])
        root.addHandler(_RawHandler(self.entries))
        try:
            yield self
        finally:
            structlog.configure(**saved_structlog)
            root.handlers[:] = saved_root[0]
            root.setLevel(saved_root[1])
            for name, level in saved_noisy.items():
                logging.getLogger(name).setLevel(level)

    def texts(self) -> list[tuple[str, str]]:
        out, err = self.capfd.readouterr()
        self.entries += [("stderr", line) for line in err.splitlines()]
        self.entries += [("stdout", line) for line in out.splitlines()]
        rendered = self.rendered.getvalue().splitlines()
        return [*self.entries, *(("rendered log output", line) for line in rendered)]

    def leaks(self, values: Iterable[tuple[str, str, str]]) -> list[Leak]:
        protected = [(whose, kind, value.casefold()) for whose, kind, value in values]
        found: dict[Leak, None] = {}
        for where, text in self.texts():
            folded = text.casefold()
            for whose, kind, value in protected:
                if value in folded:
                    found[Leak(whose, kind, where)] = None
        return list(found)
