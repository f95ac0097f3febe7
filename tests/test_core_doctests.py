"""The examples in nda_core's docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["nda_core", "nda_core.functional", "nda_core.transforms", "nda_core.losses", "nda_core.metrics", "nda_core.workarounds"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
