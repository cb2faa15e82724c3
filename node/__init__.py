"""The only layer with I/O: storage, the federation server and client, scheduler, CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("aidnode")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0+unknown"
