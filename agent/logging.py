"""structlog set-up: JSON lines to stderr (pretty on a TTY) with personal data redacted.

The redactor holds every identifier value being searched (and its stored variants) plus
every configured secret; a processor replaces them in every string of every log line,
including lines from other libraries routed through the standard logging module.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import Counter
from collections.abc import Iterable, MutableMapping
from typing import Any

import ahocorasick_rs
import structlog

REDACTED = "[redacted]"
# Fields the agent itself fills with non-personal values; scrubbing them would only garble
# them (a short record id can occur inside a search id).
SAFE_KEYS = frozenset({"event", "level", "timestamp", "search_id", "logger"})


class Redactor:
    """Replaces known values (case-insensitively, whole values only) in log text.

    One Aho-Corasick automaton over every value, rebuilt lazily after changes, so a batch
    of thousands of subjects costs one build per round and one pass per log string. Values
    are counted: a search releases what it added when it ends, so a long-running process
    does not keep every identifier it ever searched for (secrets are never released).
    """

    def __init__(self) -> None:
        self._values: Counter[str] = Counter()
        self._automaton: ahocorasick_rs.AhoCorasick | None = None
        self._patterns: list[str] = []
        self._dirty = False
        self._lock = threading.Lock()

    def add(self, values: Iterable[str]) -> frozenset[str]:
        """Start redacting ``values``; the result is what to ``release`` afterwards."""
        held = frozenset(v.casefold() for v in values if v and len(v) >= 3)
        with self._lock:
            for value in held:
                if not self._values[value]:
                    self._dirty = True
                self._values[value] += 1
        return held

    def release(self, held: frozenset[str]) -> None:
        with self._lock:
            for value in held:
                self._values[value] -= 1
                if self._values[value] <= 0:
                    del self._values[value]
                    self._dirty = True

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._automaton, self._patterns, self._dirty = None, [], False

    def _current(self) -> ahocorasick_rs.AhoCorasick | None:
        if self._dirty:
            with self._lock:
                if self._dirty:
                    self._patterns = sorted(self._values)
                    self._automaton = ahocorasick_rs.AhoCorasick(
                        self._patterns, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest)
                    self._dirty = False
        return self._automaton

    def scrub(self, text: str) -> str:
        automaton = self._current()
        if automaton is None or not text:
            return text
        folded = text.casefold()
        source = text if len(folded) == len(text) else folded  # offsets must line up
        out: list[str] = []
        last = 0
        for _, start, end in automaton.find_matches_as_indexes(folded):
            # Whole values only: "1234" is redacted as a value, not inside "CAN-0012345".
            if (start > 0 and folded[start - 1].isalnum()) or (
                    end < len(folded) and folded[end].isalnum()):
                continue
            out += [source[last:start], REDACTED]
            last = end
        if not out:
            return text
        out.append(source[last:])
        return "".join(out)

    def scrub_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {k: self.scrub_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set):
            return [self.scrub_value(v) for v in value]
        if isinstance(value, BaseException):
            return self.scrub(f"{type(value).__name__}: {value}")
        return value

    def __call__(self, _logger: Any, _name: str,
                 event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in list(event_dict.items()):
            if key not in SAFE_KEYS:
                event_dict[key] = self.scrub_value(value)
        return event_dict


redactor = Redactor()

# Libraries that log statements or request URLs at INFO (a plugin's HTTP client included).
NOISY_LOGGERS = ("sqlalchemy", "urllib3", "paramiko", "botocore", "asyncio", "httpx",
                 "httpcore")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of the log line, not at set-up."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure(level: str = "info", *, stream: Any = None, pretty: bool | None = None) -> None:
    target = stream or sys.stderr
    if pretty is None:
        pretty = hasattr(target, "isatty") and target.isatty()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redactor,
    ]
    renderer: Any = (structlog.dev.ConsoleRenderer(colors=True) if pretty
                     else structlog.processors.JSONRenderer(sort_keys=True))
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS.get(level, logging.INFO))
    # Drivers are chatty at INFO and may echo statements or URLs; keep them at WARNING.
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        # filter first: a line below the level never pays for redaction or rendering
        processors=[structlog.stdlib.filter_by_level, *shared,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


class _StderrPrinter:
    """structlog's print logger, writing to whatever ``sys.stderr`` is now."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


def _library_default() -> None:
    """Before anyone calls ``configure`` (the agent used as a library, the HTTP API's
    workers, a plugin's tests): warnings and errors to stderr, redacted. Never stdout,
    which belongs to data, and never an unredacted line."""
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.format_exc_info, redactor,
                    structlog.processors.JSONRenderer(sort_keys=True)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=lambda *_args: _StderrPrinter(),
        cache_logger_on_first_use=False,
    )


if not structlog.is_configured():
    _library_default()


def get_logger(name: str = "dsr") -> Any:
    return structlog.get_logger(name)
