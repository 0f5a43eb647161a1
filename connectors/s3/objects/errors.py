"""Errors of the object operations: the reason alone in the message, the key on ``.key``."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from agent.errors import ConnectorError
from connectors.files.transport import FileUnavailable

_NOT_FOUND = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound"})
_DENIED = frozenset({"AccessDenied", "403", "Forbidden", "AllAccessDisabled",
                     "AccountProblem"})
_PRECONDITION = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})
# What a store says when it does not implement conditional writes.
_NO_CONDITIONAL = frozenset({"NotImplemented", "501"})

# --- errors -------------------------------------------------------------------------------

class S3ObjectError(ConnectorError):
    """An object operation failed. The message is the reason alone; the key is on ``.key``."""

    def __init__(self, key: str, reason: str, *, code: str | None = None) -> None:
        ConnectorError.__init__(self, reason)  # explicit: ObjectUnavailable mixes in
        self.key = key
        self.reason = reason
        self.code = code  # the store's error code ("AccessDenied", ...), when there was one


class ObjectUnavailable(S3ObjectError, FileUnavailable):
    """This one object (or version) is not found, not readable/changeable (access denied) or
    archived: report it for that key and go on (it is a ``FileUnavailable`` too, with the key
    on ``.path``, like the sweep's read errors). Other ``S3ObjectError``s mean the store or
    the connection failed."""

    def __init__(self, key: str, reason: str, *, code: str | None = None) -> None:
        super().__init__(key, reason, code=code)
        self.path = key


class WriteConflict(S3ObjectError):
    """Someone else wrote the object between our read and our write. When this is raised no
    version written by the failed call remains; re-read and rewrite (``with_retries``)."""


class RollbackFailed(S3ObjectError):
    """A conflicting write of ours could not be removed again: ``.version_id`` is still in
    the bucket and needs an operator."""

    def __init__(self, key: str, reason: str, version_id: str | None,
                 *, code: str | None = None) -> None:
        super().__init__(key, reason, code=code)
        self.version_id = version_id


class ConditionalWriteUnsupported(S3ObjectError):
    """The store refuses conditional writes and the bucket keeps no versions, so a
    concurrent write could not be detected: the object is left as it was."""


class TagLimitExceeded(S3ObjectError):
    """Merging the tags would exceed S3's limit of 10 tags per object."""


def _code(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(error.get("Code") or status or "unknown")


def _failure(exc: ClientError | BotoCoreError, key: str, action: str) -> S3ObjectError:
    """A safe error for a failed call: the error code, never the store's message text (it
    can contain the key) nor a botocore message (it can contain the URL, hence the key)."""
    if isinstance(exc, BotoCoreError):
        return S3ObjectError(key, f"{action} failed: {type(exc).__name__}")
    code = _code(exc)
    if code in _NOT_FOUND:
        return ObjectUnavailable(key, f"{action}: object or version not found", code=code)
    if code in _DENIED:
        return ObjectUnavailable(key, f"{action}: access denied", code=code)
    if code == "InvalidObjectState":
        return ObjectUnavailable(key, f"{action}: archived object, restore needed", code=code)
    if code == "NoSuchBucket":
        return S3ObjectError(key, f"{action}: bucket not found", code=code)
    return S3ObjectError(key, f"{action} failed: {code}", code=code)
