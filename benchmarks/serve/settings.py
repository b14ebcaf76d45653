"""The app's defaults, defined once for the command line (which must not import the web framework) and the app."""
from __future__ import annotations

from ..config import POSITIVE_FLOAT, Range

__all__ = ["LOCAL_HOST", "LOCAL_HOSTS", "DEFAULT_PORT", "PORT", "MAX_UPLOAD_MB", "UPLOAD_MB"]

LOCAL_HOST = "127.0.0.1"
LOCAL_HOSTS = (LOCAL_HOST, "localhost", "::1")  # binding these exposes nothing to the network
DEFAULT_PORT = 8765
PORT = Range(integer=True, low=1, high=65535)
MAX_UPLOAD_MB = 200.0  # the check page's upload limit
UPLOAD_MB = POSITIVE_FLOAT
