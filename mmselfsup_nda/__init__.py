"""mmselfsup_nda: Negative Data Augmentation for MoCo-v2 in mmselfsup 1.x and mmpretrain 1.2.

Add to a MoCo-v2 config::

    custom_imports = dict(imports=['mmselfsup_nda'], allow_failed_imports=False)
    model = dict(type='NDAMoCo', nda=dict(type='jigsaw', k=2),
                 head=dict(type='NDAContrastiveHead', temperature=0.07))

Importing this package registers ``NDAMoCo``, ``NDAContrastiveHead`` and ``NDAView`` into the
registries of every installed framework (mmselfsup and/or mmpretrain), registers the
``CPUAwareDistributedDataParallel`` model wrapper, and works around upstream bugs that stop
stock mmselfsup 1.0.0 configs from training and resuming (see ``mmselfsup_nda._workarounds``).
"""

from __future__ import annotations

import importlib.util

INSTALL_HINT = "pip install 'nda-plugins[mmselfsup]'"


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


try:
    import mmcv  # noqa: F401
    import mmengine  # noqa: F401
except ImportError as _error:
    raise ImportError(f"mmselfsup_nda needs mmengine and mmcv: {INSTALL_HINT} ({_error})") from _error

from mmengine.registry import MODEL_WRAPPERS  # noqa: E402

from mmselfsup_nda import _workarounds  # noqa: E402
from mmselfsup_nda.distributed import CPUAwareDistributedDataParallel  # noqa: E402
from mmselfsup_nda.head import NDAContrastiveHead  # noqa: E402
from mmselfsup_nda.transforms import NDAView  # noqa: E402

FRAMEWORKS: list[str] = []
_registry_modules = []
if _has("mmselfsup"):
    try:
        import mmselfsup.registry

        from mmselfsup_nda import mmselfsup_models
    except ImportError as _error:
        raise ImportError(f"mmselfsup is installed but failed to import ({_error}); {INSTALL_HINT}") from _error
    mmselfsup_models.register()
    NDAMoCo = mmselfsup_models.NDAMoCo
    _registry_modules.append(mmselfsup.registry)
    FRAMEWORKS.append("mmselfsup")
if _has("mmpretrain"):
    try:
        import mmpretrain.registry

        from mmselfsup_nda import mmpretrain_models
    except ImportError as _error:
        raise ImportError(f"mmpretrain is installed but failed to import ({_error}); {INSTALL_HINT}") from _error
    mmpretrain_models.register()
    _registry_modules.append(mmpretrain.registry)
    FRAMEWORKS.append("mmpretrain")
    if "mmselfsup" not in FRAMEWORKS:
        NDAMoCo = mmpretrain_models.NDAMoCo
if not FRAMEWORKS:
    raise ImportError(f"mmselfsup_nda needs mmselfsup 1.x or mmpretrain 1.2, neither is installed: {INSTALL_HINT}")

_workarounds.apply_all(_registry_modules)
MODEL_WRAPPERS.register_module(
    name="CPUAwareDistributedDataParallel", module=CPUAwareDistributedDataParallel, force=True
)

__all__ = ["CPUAwareDistributedDataParallel", "FRAMEWORKS", "INSTALL_HINT", "NDAContrastiveHead", "NDAMoCo", "NDAView"]
