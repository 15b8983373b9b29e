"""Print the README's validation figures from the committed CSVs, so they cannot drift.

    python results/validation/summarize.py results/validation/host-2threads/validation-run*.csv

One line per ``perfsim validate --format csv`` file (median and worst |error| against
each case's median timed pass, cases worse than 35%), and with several runs of the same
cases, the same against each case's median and fastest run (`perfsim.validation.summary`).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    # this checkout's perfsim, not whichever one is installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from perfsim.validation.summary import main

    main(sys.argv[1:])
