"""The examples in nda_core's docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

# module -> how many example lines its docstrings hold at least (nda_core.metrics has none: its
# functions are checked against references in test_core_metrics.py and test_trust_knn.py)
EXAMPLES = {
    "nda_core": 4,
    "nda_core.functional": 4,
    "nda_core.transforms": 7,
    "nda_core.losses": 9,
    "nda_core.workarounds": 5,
}


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted >= EXAMPLES[name], f"{name}: only {result.attempted} examples ran; were they lost?"
