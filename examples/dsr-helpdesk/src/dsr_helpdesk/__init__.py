"""dsr-helpdesk: a dsr-agent connector plugin for a helpdesk CRM's JSON API.

The worked example of docs/write-a-connector.md in the dsr-agent repository.
"""

from __future__ import annotations

__version__ = "0.1.0"
