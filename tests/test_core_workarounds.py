"""nda_core.workarounds: gated, applied once, logged once, switched off by NDA_WORKAROUNDS."""

from __future__ import annotations

import logging

import pytest

from nda_core import workarounds as W


@pytest.fixture(autouse=True)
def _fresh_registry(monkeypatch):
    monkeypatch.setattr(W, "_applied", {})
    monkeypatch.setattr(W, "_reported_off", set())


def _fix(name: str, needed: bool, calls: list[str]) -> W.Workaround:
    return W.Workaround(name, f"{name} fixes a bug", lambda: needed, lambda: calls.append(name))


def test_only_needed_workarounds_apply_once_and_are_logged_once(caplog):
    calls: list[str] = []
    fixes = [_fix("a", True, calls), _fix("b", False, calls)]
    logger = logging.getLogger("test-workarounds")
    with caplog.at_level(logging.INFO, logger="test-workarounds"):
        first = W.apply_workarounds(fixes, logger, environ={})
        second = W.apply_workarounds(fixes, logger, environ={})
    assert [w.name for w in first] == ["a"] and second == []
    assert calls == ["a"]
    assert W.applied() == ["a"]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "a: a fixes a bug" in messages[0] and "NDA_WORKAROUNDS=off" in messages[0]


@pytest.mark.parametrize("value", ["off", "0", "none", "OFF", "false"])
def test_switched_off_applies_nothing_and_says_so_once(value, caplog):
    calls: list[str] = []
    logger = logging.getLogger("test-workarounds")
    with caplog.at_level(logging.INFO, logger="test-workarounds"):
        assert W.apply_workarounds([_fix("a", True, calls)], logger, environ={W.ENV_VAR: value}) == []
        W.apply_workarounds([_fix("a", True, calls)], logger, environ={W.ENV_VAR: value})
    assert calls == []
    assert len(caplog.records) == 1 and "not applying" in caplog.records[0].getMessage()


def test_single_workarounds_can_be_left_out():
    calls: list[str] = []
    fixes = [_fix("a", True, calls), _fix("b", True, calls)]
    W.apply_workarounds(fixes, logging.getLogger("t"), environ={W.ENV_VAR: "-a"})
    assert calls == ["b"]


def test_a_value_it_does_not_understand_is_refused():
    with pytest.raises(ValueError, match="NDA_WORKAROUNDS='some' is not understood"):
        W.apply_workarounds([], logging.getLogger("t"), environ={W.ENV_VAR: "some"})
