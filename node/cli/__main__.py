"""``python -m node.cli``: the same as the ``aidnode`` command."""

from node.cli import main

main()
