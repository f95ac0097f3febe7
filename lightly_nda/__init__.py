"""lightly_nda: NDA for lightly (adapter to be filled by its own issue).

Needs lightly: ``pip install 'nda-plugins[lightly]'``.
"""

try:
    import lightly  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("lightly_nda needs lightly: pip install 'nda-plugins[lightly]'") from error
