"""aidnode's tests. A package so shared helpers import as ``tests.strategies``."""
