"""ARTAgent: an open, plugin-based, event-driven runtime for real-time voice agents."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("artagent")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
