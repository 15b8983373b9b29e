"""``python -m perfsim``."""

from perfsim.cli import main

main()
