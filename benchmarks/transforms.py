"""The transform benchmark, kept at its old path for the commands in README.md and docs/results.md.

The benchmark itself is ``nda_core.benchmark`` (also ``nda bench``, which works from an installed
wheel); this script only runs it: ``python benchmarks/transforms.py --help`` lists the options.
"""

from __future__ import annotations

from nda_core.benchmark import main

if __name__ == "__main__":
    raise SystemExit(main())
