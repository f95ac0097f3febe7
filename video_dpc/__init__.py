"""video_dpc: Dense Predictive Coding (Han et al. 2019) with NDA negatives for self-supervised video.

NDA-DPC (Sinha et al., ICLR 2021): NDA clips (one ``nda_core`` transform applied identically to
every frame of a clip) are encoded by DPC's own encoder, and their features enter the DPC loss as
extra negatives of their source video's predictions, never as positives::

    import video_dpc
    model = video_dpc.DPC()                                    # DPC's ResNet-18 2D+3D at 128 px
    negatives = video_dpc.DPCNegatives({"type": "jigsaw", "k": 2})
    pred, target = model(blocks)                               # blocks: (B, 8, 3, 5, 128, 128)
    loss, top1 = video_dpc.dpc_loss(pred, target, negatives(model, blocks))

Training, fine-tuning and evaluation on PyTorch Lightning: ``python -m video_dpc`` (or
``nda dpc``), one ``LightningCLI`` per command, with the configs in ``plugins/video_dpc``. Needs
``pip install 'nda-plugins[video]'`` (torchvision, PyAV, PyTorch Lightning, jsonargparse, PyYAML).
"""

from __future__ import annotations

import importlib.util

INSTALL_HINT = "pip install 'nda-plugins[video]'"
_REQUIRED = {
    "torchvision": "torchvision",
    "av": "PyAV",
    "pytorch_lightning": "PyTorch Lightning",
    "jsonargparse": "jsonargparse",
    "yaml": "PyYAML",
}
_missing = [name for module, name in _REQUIRED.items() if importlib.util.find_spec(module) is None]
if _missing:
    raise ImportError(f"video_dpc needs {', '.join(_missing)}: {INSTALL_HINT}")

from video_dpc.backbone import ConvGRU, ResNet2d3d  # noqa: E402
from video_dpc.loss import DPCLossOutput, dpc_logits, dpc_loss  # noqa: E402
from video_dpc.model import DPC, DPCClassifier  # noqa: E402
from video_dpc.nda import DPCNegatives  # noqa: E402
from video_dpc.sampling import BlockLayout  # noqa: E402

__all__ = [
    "BlockLayout",
    "ConvGRU",
    "DPC",
    "DPCClassifier",
    "DPCLossOutput",
    "DPCNegatives",
    "INSTALL_HINT",
    "ResNet2d3d",
    "dpc_logits",
    "dpc_loss",
]
