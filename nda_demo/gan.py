"""NDA-GAN as a PyTorch Lightning module (paper, Section 3).

The discriminator's fake distribution is ``lam * P_G + (1 - lam) * P_NDA``; the loss is
:func:`nda_core.losses.nda_discriminator_loss`, the generator loss is unchanged. With
``negatives=None`` (and then ``lam = 1``) the module is the plain GAN with the same
architecture, optimiser and budget.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from nda_core._checks import check_choice, check_int, check_number, check_probability
from nda_core.errors import UsageError, UsageTypeError
from nda_core.losses import ADVERSARIAL_KINDS, generator_loss, nda_discriminator_loss
from nda_core.transforms import NDATransform
from nda_demo.config import EVAL_INSTALL

try:
    import pytorch_lightning as pl
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(f"nda_demo trains with PyTorch Lightning: {EVAL_INSTALL}") from error

from nda_demo.models import Discriminator, Generator

__all__ = ["NDAGAN", "GAN_LR", "GAN_BETAS", "EMA_DECAY"]

#: Adam learning rate of both networks (the paper's BigGAN setting, 2e-4).
GAN_LR = 2e-4
#: Adam betas (0, 0.999) as in BigGAN / SNGAN training.
GAN_BETAS = (0.0, 0.999)
#: Decay of the generator's moving average used for sampling.
EMA_DECAY = 0.999


class NDAGAN(pl.LightningModule):
    """Trains ``generator`` against ``discriminator``, with ``negatives`` as extra fakes when given.

    Args:
        generator: maps (B, latent_dim) codes to images; needs ``latent_dim``.
        discriminator: maps images to (B,) scores.
        negatives: an nda_core NDA transform turning a real batch into negatives (e.g.
            ``build("jigsaw")`` or ``build("other_dataset", images=bank)``); None for the plain GAN.
        lam: weight of G's samples in the fake mixture (paper 0.25); must be 1 without negatives.
        kind: adversarial loss (hinge, vanilla, ls, wasserstein).
        d_steps: discriminator updates per generator update; each uses its own real batch.
        lr, betas: Adam settings of both networks.
        ema_decay: decay of the generator's exponential moving average ``self.ema``, a
            ``torch.optim.swa_utils.AveragedModel`` updated after every generator step: the
            first update copies the generator, each later one computes
            ``ema = ema_decay * ema + (1 - ema_decay) * generator``, for the weights and the
            batch-norm running statistics alike (``use_buffers=True``). ``self.ema.module`` is
            the averaged generator that :meth:`sample` draws from.
    """

    def __init__(
        self,
        generator: Generator,
        discriminator: Discriminator,
        negatives: NDATransform | None = None,
        lam: float = 0.25,
        kind: str = "hinge",
        d_steps: int = 1,
        lr: float = GAN_LR,
        betas: tuple[float, float] = GAN_BETAS,
        ema_decay: float = EMA_DECAY,
    ) -> None:
        super().__init__()
        check_choice(kind, "kind", ADVERSARIAL_KINDS)
        check_number(
            lam, "lam", 0.0, 1.0, low_open=True, hint="lam weights G's samples in D's fake mixture (paper: 0.25)."
        )
        if negatives is None and lam != 1.0:
            raise UsageError(
                f"lam={lam} weights NDA negatives but negatives is None; pass an NDA or set lam=1 (plain GAN)."
            )
        if negatives is not None and not callable(negatives):
            raise UsageTypeError(
                f"negatives must be an nda_core NDA transform (callable), got {type(negatives).__name__}."
            )
        check_int(d_steps, "d_steps", 1, hint="d_steps counts D updates per G update.")
        check_probability(ema_decay, "ema_decay", high_open=True, hint="0.999 is typical; 0 samples the raw generator.")
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = discriminator
        self.negatives = negatives
        self.lam = float(lam)
        self.kind = kind
        self.d_steps = d_steps
        self.lr = lr
        self.betas = betas
        self.ema = AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True)
        self.ema.requires_grad_(False)

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=self.lr, betas=self.betas)
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=self.lr, betas=self.betas)
        return [opt_g, opt_d]

    def _latents(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.generator.latent_dim, device=self.device)

    def discriminator_step(self, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """One D loss on a real batch: real, G(z) and (NDA run) NDA(real) in one forward pass."""
        with torch.no_grad():
            fake = self.generator(self._latents(real.shape[0]))
        parts = [real, fake]
        if self.negatives is not None:
            parts.append(self.negatives(real))
        scores = self.discriminator(torch.cat(parts)).split([p.shape[0] for p in parts])
        d_nda = scores[2] if self.negatives is not None else None
        loss = nda_discriminator_loss(scores[0], scores[1], d_nda, kind=self.kind, lam=self.lam)
        out = {"loss_d": loss, "d_real": scores[0].mean().detach(), "d_fake": scores[1].mean().detach()}
        if d_nda is not None:
            out["d_nda"] = d_nda.mean().detach()
        return out

    def training_step(self, batch: Any, batch_index: int) -> None:
        real = batch[0] if isinstance(batch, (tuple, list)) else batch
        if real.shape[0] % self.d_steps != 0:
            raise UsageError(f"the batch ({real.shape[0]}) must split into d_steps={self.d_steps} equal real batches.")
        opt_g, opt_d = self.optimizers()
        for chunk in real.chunk(self.d_steps):
            stats = self.discriminator_step(chunk)
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(stats["loss_d"])
            opt_d.step()
        fake = self.generator(self._latents(real.shape[0] // self.d_steps))
        loss_g = generator_loss(self.discriminator(fake), self.kind)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(loss_g)
        opt_g.step()
        self.ema.update_parameters(self.generator)
        stats["loss_g"] = loss_g.detach()
        self.log_dict({k: v for k, v in stats.items() if k in ("loss_d", "loss_g")}, prog_bar=True)
        self.log_dict({k: v for k, v in stats.items() if k not in ("loss_d", "loss_g")})

    @torch.no_grad()
    def sample(self, n: int, batch_size: int = 500, use_ema: bool = True) -> torch.Tensor:
        """``n`` generated images from the EMA generator (or the raw one), on the CPU.

        Batch norm normalises with the statistics of each sampling batch (train mode, no
        gradients), as the averaged weights never produced the averaged running statistics.
        Sampling changes no state: the running statistics and the train/eval mode of the
        generator are restored afterwards. Latent codes come from torch's global generator.
        """
        check_int(n, "n", 0, hint="n is the number of images to generate.")
        check_int(batch_size, "batch_size", 1, hint="batch_size is the number of images per forward pass.")
        net = self.ema.module if use_ema else self.generator
        was_training = net.training
        saved = [buffer.clone() for buffer in net.buffers()]
        net.train()
        try:
            out = [net(self._latents(min(batch_size, n - start))).cpu() for start in range(0, n, batch_size)]
        finally:
            for buffer, value in zip(net.buffers(), saved):
                buffer.copy_(value)
            net.train(was_training)
        return torch.cat(out) if out else torch.empty(0)

    @torch.no_grad()
    def score(self, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """Discriminator scores (N,) of images, in batches."""
        was_training = self.discriminator.training
        self.discriminator.eval()
        out = [self.discriminator(part.to(self.device)).cpu() for part in images.split(batch_size)]
        self.discriminator.train(was_training)
        return torch.cat(out)
