"""``python -m low2high.train``: see :mod:`low2high.train.cli`."""
import sys

from .cli import main

sys.exit(main())
