"""``python -m nda_demo``: the same as ``nda demo``."""

import sys

from nda_demo.cli import main

sys.exit(main())
