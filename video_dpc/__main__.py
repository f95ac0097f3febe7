"""``python -m video_dpc``: the same as ``nda dpc``."""

import sys

from video_dpc.cli import main

sys.exit(main())
