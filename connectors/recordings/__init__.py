"""Built-in connector plugin for call-recording stores: call records (Asterisk/FreePBX CDR,
Amazon Connect contact records, JSON sidecars) with their audio on a folder, SFTP, SMB or
S3."""

from __future__ import annotations

from agent.hookspecs import Register, hookimpl
from connectors.recordings.connector import RecordingsConnector

__all__ = ["RecordingsConnector"]


@hookimpl
def register_connectors(register: Register) -> None:
    register(RecordingsConnector)
