"""A boto3 S3 client for one system, and botocore failures turned into safe errors.

One client serves every worker thread (boto3 clients are thread-safe; the connection pool is
sized for the workers). Timeouts and retries are bounded, so a dead endpoint fails within
seconds rather than hanging a search.

Errors say what failed and the error code, never a key, a secret, a request's parameters or
an object's contents (botocore's own messages may echo a key name, so only codes are used):

- ``object_error``: a failure reading one object. Access denied, not found, archived (restore
  needed) or refused for that object (a customer-key encrypted object read without its key)
  are the object's own problem: ``FileUnavailable``, which the sweep records and goes on.
  Anything else (endpoint unreachable, connection lost, the bucket gone, credentials
  refused) is a ``ConnectorError`` for the whole system.
- ``system_error``: a failure of a bucket-level call (listing, head_bucket): always a
  ``ConnectorError`` naming the system.
"""

from __future__ import annotations

from typing import Any

from agent.errors import ConfigError, ConnectorError
from connectors.files.transport import FileUnavailable
from connectors.s3.options import S3Options

RESTORE_NEEDED = "not searched: restore needed"
DENIED = "permission denied"
NOT_FOUND = "not found"

_DENIED_CODES = {"AccessDenied", "403", "Forbidden", "AllAccessDisabled", "AccountProblem"}
_NOT_FOUND_CODES = {"NoSuchKey", "NoSuchVersion", "404", "NotFound"}
_ARCHIVED_CODES = {"InvalidObjectState"}
_CREDENTIAL_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
                     "InvalidToken", "TokenRefreshRequired", "InvalidClientTokenId"}
_BUCKET_CODES = {"NoSuchBucket", "PermanentRedirect", "AuthorizationHeaderMalformed",
                 "IllegalLocationConstraintException"}


def make_client(options: S3Options) -> Any:
    """A boto3 S3 client from the system's options, else the standard credential chain."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    try:
        session = boto3.session.Session(profile_name=options.profile)
    except ProfileNotFound:
        raise options.error("no such profile in the shared AWS config files",
                            "profile") from None
    config = Config(
        connect_timeout=options.connect_timeout, read_timeout=options.read_timeout,
        retries={"max_attempts": 3, "mode": "standard"},
        max_pool_connections=max(10, options.workers * 2 + 2),
        user_agent_extra="dsr-agent")
    try:
        return session.client(
            "s3", endpoint_url=options.endpoint_url, region_name=options.region,
            aws_access_key_id=options.access_key_id,
            aws_secret_access_key=options.secret_access_key,
            aws_session_token=options.session_token, config=config)
    except (BotoCoreError, ValueError) as exc:  # an invalid region or endpoint
        raise ConfigError(f"system {options.system!r}: cannot make an S3 client "
                          f"({type(exc).__name__})", key=options.key("endpoint_url")) from None


def error_code(exc: BaseException) -> str | None:
    """The S3 error code of a ClientError (``AccessDenied``, ``404``...), else None."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    if code:
        return str(code)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(status) if status else None


def _status(exc: BaseException) -> int:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(status, int):
            return status
    return 0


def object_error(system: str, path: str, exc: BaseException) -> ConnectorError:
    """A failure on one object: that object's problem, or the system's (see the module)."""
    if isinstance(exc, ConnectorError):
        return exc
    code = error_code(exc)
    if code is None:
        return system_error(system, exc)
    if code in _DENIED_CODES:
        return FileUnavailable(path, DENIED)
    if code in _NOT_FOUND_CODES:
        return FileUnavailable(path, NOT_FOUND)
    if code in _ARCHIVED_CODES:
        return FileUnavailable(path, f"{RESTORE_NEEDED} (the store refused to read it: "
                                     f"{code})")
    if code in _CREDENTIAL_CODES or code in _BUCKET_CODES or _status(exc) >= 500:
        return system_error(system, exc)
    if 400 <= _status(exc) < 500 or not code.isdigit():
        # refused for this object alone (a customer-key encrypted object, say)
        return FileUnavailable(path, f"the store refused to read it ({code})")
    return system_error(system, exc)


def system_error(system: str, exc: BaseException, doing: str = "") -> ConnectorError:
    """A ConnectorError naming the system and the class of failure, never a secret."""
    if isinstance(exc, ConnectorError):
        return exc
    from botocore.exceptions import (
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ReadTimeoutError,
    )

    code = error_code(exc)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        what = ("no credentials: give access_key_id and secret_access_key (as ${ENV} "
                "references), a profile, or set up the standard AWS credential chain")
    elif isinstance(exc, ConnectTimeoutError):
        what = "the S3 endpoint did not accept a connection in time (connect_timeout)"
    elif isinstance(exc, EndpointConnectionError):
        what = "cannot reach the S3 endpoint"
    elif isinstance(exc, ReadTimeoutError):
        what = "the S3 endpoint stopped answering (read_timeout)"
    elif isinstance(exc, ConnectionClosedError):
        what = "the S3 endpoint closed the connection"
    elif code == "NoSuchBucket":
        what = "the bucket does not exist"
    elif code in _CREDENTIAL_CODES:
        what = f"the store refused the credentials ({code})"
    elif code in _DENIED_CODES:
        what = f"access denied to the bucket ({code})"
    elif code in _NOT_FOUND_CODES:
        what = f"the bucket was not found ({code})"
    elif code is not None:
        what = f"the store answered with an error ({code})"
    else:
        what = f"connection failed ({type(exc).__name__})"
    return ConnectorError(f"system {system!r}: {what}" + (f" ({doing})" if doing else ""))
