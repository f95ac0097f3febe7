"""mmselfsup_nda: Negative Data Augmentation for MoCo-v2 in mmselfsup 1.x and mmpretrain 1.2.

Add to a MoCo-v2 config::

    custom_imports = dict(imports=['mmselfsup_nda'], allow_failed_imports=False)
    model = dict(type='NDAMoCo', nda=dict(type='jigsaw', k=2),
                 head=dict(type='NDAContrastiveHead', temperature=0.07))

Importing this package registers ``NDAMoCo``, ``NDAContrastiveHead``, ``NDAView`` and
``FeatureBatchNorm`` into the registries of every installed framework (mmselfsup and/or
mmpretrain), ``CIFAR10Folder`` (``CustomDataset`` with a clear error for a missing CIFAR-10 root)
into mmcls's and/or mmpretrain's, and the ``CPUAwareDistributedDataParallel`` model wrapper into
mmengine's, warning where a name already belongs to a component that is not ours. It applies the
workarounds of upstream bugs that the installed versions show (``mmselfsup_nda._workarounds``), logs which once through
mmengine's logger, and applies none with ``NDA_WORKAROUNDS=off``.
"""

from __future__ import annotations

import importlib.util
import warnings

INSTALL_HINT = "pip install 'nda-plugins[mmselfsup]'"

# Two warnings that every MoCo-v2 run of the pinned versions prints and no user can act on; only
# these exact messages from these mmcv modules are hidden:
# - mmcv-lite (the pinned extra) has no compiled ops, so importing mmselfsup's models makes mmcv warn
#   that MultiScaleDeformableAttention, which MoCo never uses, is missing;
# - MoCo-v2's ColorJitter (Pillow backend) makes mmcv's adjust_color warn "Only use 'alpha'" on every
#   call, although it only ever passes alpha.
warnings.filterwarnings(
    "ignore",
    message=r"Fail to import ``MultiScaleDeformableAttention``",
    category=UserWarning,
    module=r"mmcv\.cnn\.bricks\.transformer",
)
warnings.filterwarnings(
    "ignore", message=r"Only use 'alpha' for pillow backend", category=UserWarning, module=r"mmcv\.image\.photometric"
)


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
from mmselfsup_nda.linear_probe import FeatureBatchNorm  # noqa: E402
from mmselfsup_nda.registration import register  # noqa: E402
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

register(MODEL_WRAPPERS, "CPUAwareDistributedDataParallel", CPUAwareDistributedDataParallel)
_workarounds.apply_all(_registry_modules)

__all__ = [
    "CPUAwareDistributedDataParallel",
    "FRAMEWORKS",
    "FeatureBatchNorm",
    "INSTALL_HINT",
    "NDAContrastiveHead",
    "NDAMoCo",
    "NDAView",
]
