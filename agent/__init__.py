"""dsr-agent core: find one person's data everywhere, act on it, prove it."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dsr-agent")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
