"""Protocol test vectors (docs/protocol.md §8); regenerate with generate.py."""
