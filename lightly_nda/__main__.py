"""``python -m lightly_nda``: the same as ``nda lightly``."""

import sys

from lightly_nda.cli import main

sys.exit(main())
