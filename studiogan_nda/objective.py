"""The NDA discriminator objective inside one StudioGAN ``WORKER``.

StudioGAN's ``WORKER.train_discriminator`` computes, for every D update and accumulation step::

    real_images_ = AUG.series_augment(real_images)     # after its blur (StyleGAN3-r) and APA
    fake_images_ = AUG.series_augment(fake_images)
    real_dict, fake_dict = Dis(real_images_, real_labels), Dis(fake_images_, fake_labels)
    dis_acml_loss = LOSS.d_loss(real_dict["adv_output"], fake_dict["adv_output"], DDP=...)
    ... + conditioning, CR/bCR, LeCam, gradient penalties ...

and looks ``LOSS.d_loss`` up at every call. :func:`attach` replaces it, on that worker only, with
:class:`NDADiscriminatorObjective`, which builds ``NDA(x)`` from exactly the batch StudioGAN
just handed to D as real (recorded at its ``series_augment`` call), passes it through the same
``series_augment`` (DiffAug / ADA), scores it with the same D and the *real* labels, and returns
``nda_core.losses.nda_discriminator_loss`` -- so every term StudioGAN adds afterwards (CR,
LeCam, GP, R1, conditioning) and AMP, accumulation and DDP work as before. The generator step
is not touched. Nothing is attached when ``LOSS.apply_nda`` is False.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from functools import wraps
from os.path import join
from typing import Any

import torch

import nda_core
from nda_core.losses import discriminator_loss_terms, nda_discriminator_loss
from studiogan_nda.settings import NDASettings, check_nda_settings

__all__ = ["NDADiscriminatorObjective", "attach", "LOG_KEYS", "STATISTICS_NAME"]

#: Values logged every ``print_freq`` steps beside StudioGAN's gen/dis/cls losses.
LOG_KEYS = ("nda_loss", "dis_real_minus_nda")
#: File (``statistics/<run>/nda_losses.npy``) holding their history, like StudioGAN's losses.npy.
STATISTICS_NAME = "nda_losses"
_RECORDED_INPUTS = 2  # the real batch, then the fake batch, of the current accumulation step
_NOT_FOUND = (
    "studiogan_nda could not find the real batch of this D step ({why}); this StudioGAN version calls its "
    "discriminator loss in a way the NDA hook does not know. Please report it with your StudioGAN commit, "
    "or set LOSS.apply_nda: False."
)


class _RecordingAugment:
    """Wraps ``AUG.series_augment``: records its inputs during D steps, otherwise just forwards.

    Attribute access goes to the wrapped augmentation (ADA reads and writes ``series_augment.p``).
    """

    def __init__(self, augment: Callable[[torch.Tensor], torch.Tensor], objective: NDADiscriminatorObjective) -> None:
        self.__dict__["augment"] = augment
        self.__dict__["objective"] = objective

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        self.objective.record(images)
        return self.augment(images)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["augment"], name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.augment, name, value)


class NDADiscriminatorObjective:
    """StudioGAN's ``LOSS.d_loss`` with NDA, for one worker.

    Called as StudioGAN calls its D losses, ``objective(d_logit_real, d_logit_fake, DDP=...)``, it
    returns ``L_real + lam * L_fake(d_logit_fake) + (1 - lam) * L_fake(D(NDA(x)))`` computed by
    :func:`nda_core.losses.nda_discriminator_loss`.
    """

    def __init__(self, worker: Any, settings: NDASettings) -> None:
        if not settings.apply or settings.kind is None:
            raise ValueError(
                "NDADiscriminatorObjective needs settings with apply_nda True; leave StudioGAN's d_loss otherwise."
            )
        self.worker = worker
        self.settings = settings
        self.transform = nda_core.build(settings.spec)
        self.augment = worker.AUG.series_augment
        self._armed = False
        self._inputs: deque[torch.Tensor] = deque(maxlen=_RECORDED_INPUTS)
        self._labels: tuple[torch.Tensor, ...] | None = None
        self._calls = 0
        self.history: dict[str, list[float]] = {key: [] for key in LOG_KEYS}
        self.last_batch: dict[str, torch.Tensor] = {}  # the tensors of the last call (logging, tests, debugging)

    # -- recording StudioGAN's D step ------------------------------------------------------------
    def record(self, images: torch.Tensor) -> None:
        if self._armed:
            self._inputs.append(images)

    def _start_step(self) -> None:
        self._armed, self._calls, self._labels = True, 0, None
        self._inputs.clear()

    def _end_step(self) -> None:
        self._armed, self._labels = False, None
        self._inputs.clear()

    def _new_basket(self, labels: tuple[torch.Tensor, ...]) -> None:
        if self._armed:
            self._labels, self._calls = labels, 0

    def _real_batch(self, d_logit_real: torch.Tensor, d_logit_fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self._armed or self._labels is None:
            raise RuntimeError(_NOT_FOUND.format(why="the loss was called outside WORKER.train_discriminator"))
        if len(self._inputs) < _RECORDED_INPUTS or self._calls >= len(self._labels):
            raise RuntimeError(_NOT_FOUND.format(why="no real and fake batch went through AUG.series_augment"))
        real, fake = self._inputs[0], self._inputs[1]
        self._inputs.clear()  # the next accumulation step records its own pair
        labels = self._labels[self._calls]
        self._calls += 1
        n_real, n_fake = d_logit_real.reshape(-1).shape[0], d_logit_fake.reshape(-1).shape[0]
        if not (real.shape[0] == labels.shape[0] == n_real) or fake.shape[0] != n_fake:
            raise RuntimeError(
                _NOT_FOUND.format(why=f"batch sizes {real.shape[0]}, {labels.shape[0]}, {n_real} differ")
            )
        return real.detach(), labels.to(real.device, non_blocking=True)

    # -- the loss ------------------------------------------------------------------------------
    def __call__(self, d_logit_real: torch.Tensor, d_logit_fake: torch.Tensor, DDP: bool = False) -> torch.Tensor:  # noqa: N803 - StudioGAN's keyword
        real_images, real_labels = self._real_batch(d_logit_real, d_logit_fake)
        nda_images = self.transform(real_images)
        d_logit_nda = self.worker.Dis(self.augment(nda_images), real_labels)["adv_output"]
        loss = nda_discriminator_loss(d_logit_real, d_logit_fake, d_logit_nda, self.settings.kind, self.settings.lam)
        self.last_batch = {
            "real_images": real_images,
            "real_labels": real_labels,
            "nda_images": nda_images,
            "d_logit_real": d_logit_real.detach(),
            "d_logit_fake": d_logit_fake.detach(),
            "d_logit_nda": d_logit_nda.detach(),
        }
        return loss

    # -- logging ---------------------------------------------------------------------------------
    def values(self) -> dict[str, float]:
        """The NDA term ``L_fake(D(NDA(x)))`` and the mean ``D(x) - D(NDA(x))`` of the last D update."""
        if not self.last_batch:
            return {key: math.nan for key in LOG_KEYS}
        real, fake, nda = (self.last_batch[f"d_logit_{name}"].float() for name in ("real", "fake", "nda"))
        nda_term = discriminator_loss_terms(real, fake, nda, self.settings.kind)["nda"]
        return {"nda_loss": float(nda_term), "dis_real_minus_nda": float((real - nda).mean())}

    def log(self, current_step: int) -> None:
        """Log like StudioGAN logs its losses: a log line, wandb, and ``statistics/<run>/nda_losses.npy``."""
        import utils.misc as misc  # StudioGAN's
        import wandb

        worker = self.worker
        values = self.values()
        if worker.logger:
            worker.logger.info(
                f"NDA: Step: {current_step + 1:>6} NDA_loss: {values['nda_loss']:<.4} "
                f"D(real)-D(NDA): {values['dis_real_minus_nda']:<.4} "
                f"(lambda={self.settings.lam:g}, nda={self.settings.spec})"
            )
        wandb.log(values, step=getattr(worker, "wandb_step", current_step + 1))
        self.history = misc.accm_values_convert_dict(
            list_dict=self.history, value_dict=values, step=current_step + 1, interval=worker.RUN.print_freq
        )
        misc.save_dict_npy(
            directory=join(worker.RUN.save_dir, "statistics", worker.run_name),
            name=STATISTICS_NAME,
            dictionary=self.history,
        )

    def load_history(self) -> None:
        """Continue the saved history of a resumed run."""
        import utils.misc as misc  # StudioGAN's

        directory = join(self.worker.RUN.save_dir, "statistics", self.worker.run_name)
        loaded = misc.load_log_dicts(directory=directory, file_name=f"{STATISTICS_NAME}.npy", ph=self.history)
        if isinstance(loaded, dict) and set(loaded) == set(LOG_KEYS):
            self.history = loaded


def _wrap(method: Callable[..., Any], after: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(method)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = method(*args, **kwargs)
        after(result, *args, **kwargs)
        return result

    return wrapped


def attach(worker: Any) -> NDADiscriminatorObjective | None:
    """Give ``worker`` the NDA objective when its config has ``LOSS.apply_nda: True``; else do nothing.

    Replaces, on this worker instance only, ``LOSS.d_loss`` and ``AUG.series_augment`` (a
    recording wrapper) and wraps ``train_discriminator``, ``sample_data_basket`` and
    ``log_train_statistics``. Returns the objective (also ``worker.nda_objective``).
    """
    cfgs = worker.cfgs
    settings = check_nda_settings(vars(cfgs.LOSS), vars(cfgs.MODEL), vars(cfgs.DATA))
    if not settings.apply:
        return None
    objective = NDADiscriminatorObjective(worker, settings)
    worker.nda_objective = objective
    worker.LOSS.d_loss = objective
    worker.AUG.series_augment = _RecordingAugment(objective.augment, objective)

    train_discriminator = worker.train_discriminator

    @wraps(train_discriminator)
    def train_discriminator_with_nda(*args: Any, **kwargs: Any) -> Any:
        objective._start_step()
        try:
            return train_discriminator(*args, **kwargs)
        finally:
            objective._end_step()

    worker.train_discriminator = train_discriminator_with_nda
    worker.sample_data_basket = _wrap(
        worker.sample_data_basket, after=lambda basket, *_, **__: objective._new_basket(basket[1])
    )
    worker.log_train_statistics = _wrap(
        worker.log_train_statistics,
        after=lambda _, *args, **kwargs: objective.log(kwargs.get("current_step", args[0] if args else 0)),
    )
    if getattr(worker, "run_name", None) and getattr(worker.RUN, "save_dir", None):
        objective.load_history()
    if worker.logger:
        worker.logger.info(f"studiogan_nda: {settings.describe()}.")
    return objective
