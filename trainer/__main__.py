"""``python -m trainer``: the same as ``curator-train``."""

from .cli import main

main()
