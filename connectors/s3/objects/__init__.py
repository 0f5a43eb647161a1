"""The object operations the s3 connector's erasure, suppression and restriction call.

Every function takes a ready boto3 S3 client and a bucket name; nothing here builds clients
or reads configuration. The rules:

- ``replace`` rewrites one object keeping every attribute a rewrite must keep (content
  headers, user metadata, tags, server-side encryption, storage class, redirect) and makes
  sure nobody wrote in between: it checks the latest version against the one that was read
  before writing, writes conditionally (``If-Match``) where the store honours it, and after
  writing checks that its version sits directly on top of the one read. On a conflict it
  removes its own version again and raises ``WriteConflict``; ``with_retries`` re-runs a
  read-and-rewrite callable a few times.
- ``delete_versions`` removes named versions; versions under Object Lock (retention in the
  future or a legal hold) are refused by the store and come back as ``protected`` with
  their retain-until date. ``delete_markers`` then removes the markers left pointing at
  nothing (rule on the function).
- ``add_tags`` / ``remove_tags`` merge suppression and restriction tags (at most 10 per
  object); ``write_manifest`` merges row-level suppression entries into a JSON manifest
  object with the same conflict rule as ``replace``.

Errors are ``S3ObjectError`` (a ``ConnectorError``): the message is the reason alone, the
key (which can name a person) is on ``.key``. Messages never carry object content, the
store's own error text (it can echo the key) or credentials.
"""

from connectors.s3.objects.attributes import (
    ARCHIVE_CLASSES,
    KeyHistory,
    LockState,
    ObjectAttributes,
    attributes,
    get_tags,
    is_archived,
    key_history,
    lock_state,
)
from connectors.s3.objects.delete import (
    DeleteResult,
    FailedVersion,
    ProtectedVersion,
    delete_key,
    delete_markers,
    delete_versions,
)
from connectors.s3.objects.errors import (
    ConditionalWriteUnsupported,
    ObjectUnavailable,
    RollbackFailed,
    S3ObjectError,
    TagLimitExceeded,
    WriteConflict,
)
from connectors.s3.objects.replace import (
    MULTIPART_THRESHOLD,
    PART_SIZE,
    replace,
    versioning_enabled,
    with_retries,
)
from connectors.s3.objects.tags import (
    MANIFEST_FORMAT,
    MAX_TAGS,
    REQUEST_TAG,
    RESTRICTED_TAG,
    SUPPRESSED_TAG,
    ManifestEntry,
    add_tags,
    merge_entries,
    read_manifest,
    remove_tags,
    restriction_tags,
    suppression_tags,
    write_manifest,
)

__all__ = [
    "ARCHIVE_CLASSES", "MANIFEST_FORMAT", "MAX_TAGS", "MULTIPART_THRESHOLD", "PART_SIZE",
    "REQUEST_TAG", "RESTRICTED_TAG", "SUPPRESSED_TAG", "ConditionalWriteUnsupported",
    "DeleteResult", "FailedVersion", "KeyHistory", "LockState", "ManifestEntry",
    "ObjectAttributes", "ObjectUnavailable", "ProtectedVersion", "RollbackFailed",
    "S3ObjectError", "TagLimitExceeded", "WriteConflict", "add_tags", "attributes",
    "delete_key", "delete_markers", "delete_versions", "get_tags", "is_archived",
    "key_history", "lock_state", "merge_entries", "read_manifest", "remove_tags", "replace",
    "restriction_tags", "suppression_tags", "versioning_enabled", "with_retries",
    "write_manifest",
]
