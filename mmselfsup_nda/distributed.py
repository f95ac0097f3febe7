"""``CPUAwareDistributedDataParallel``: mmengine's DDP wrapper that also runs on CPU ranks.

mmengine's Runner always passes ``device_ids=[LOCAL_RANK]`` to a DDP model wrapper, which
PyTorch rejects for a CPU module. This wrapper drops ``device_ids`` when the module has no
CUDA parameters and is otherwise :class:`mmengine.model.MMDistributedDataParallel`, so the same
config trains on GPUs (NCCL) and on CPU ranks (gloo)::

    model_wrapper_cfg = dict(type='CPUAwareDistributedDataParallel')
"""

from __future__ import annotations

from typing import Any

from mmengine.model import MMDistributedDataParallel
from torch import nn

__all__ = ["CPUAwareDistributedDataParallel"]


class CPUAwareDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that ignores ``device_ids`` for a module on the CPU."""

    def __init__(self, module: nn.Module, device_ids: list[int] | None = None, **kwargs: Any) -> None:
        on_cpu = all(not p.is_cuda for p in module.parameters())
        super().__init__(module=module, device_ids=None if on_cpu else device_ids, **kwargs)
