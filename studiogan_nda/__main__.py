"""``python -m studiogan_nda``: see :mod:`studiogan_nda.cli`."""

import sys

from studiogan_nda.cli import main

if __name__ == "__main__":
    sys.exit(main())
