"""StudioGAN's ``WORKER`` built in this process, without its training loop (tests, benchmarks, notebooks).

:func:`build_worker` follows StudioGAN's own path: ``main.py``'s argument parsing and config
checks (``load_configs_initialize_training``), its model builder
(``models.model.load_generator_discriminator``), optimizers (``Configurations.define_optimizer``),
dataset (``data_util.Dataset_``) and ``worker.WORKER`` -- on one device (``"cpu"`` by default),
with a single-process, seeded data loader. Call ``worker.train_discriminator(step)`` and
``worker.train_generator(step)`` to run StudioGAN's own training steps.

StudioGAN's ``src/`` must be importable and the hooks installed::

    from studiogan_nda import checkout, hooks
    checkout.add_to_path(ROOT); hooks.install()
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import torch

__all__ = ["load_configs", "build_worker"]


def load_configs(
    cfg_file: str | Path, data_dir: str | Path, save_dir: str | Path, seed: int = 0, extra_args: tuple[str, ...] = ()
) -> tuple[Any, str]:
    """StudioGAN's ``main.load_configs_initialize_training`` for a training run; returns ``(cfgs, run_name)``."""
    import main as studiogan_main  # StudioGAN's src/main.py (its __main__ block does not run)

    argv = [
        "main.py",
        "-t",
        "-cfg",
        str(cfg_file),
        "-data",
        str(data_dir),
        "-save",
        str(save_dir),
        "--seed",
        str(seed),
        "-metrics",
        "none",
        "--num_workers",
        "1",
        *extra_args,
    ]
    saved = sys.argv, torch.cuda.device_count, torch.cuda.current_device
    sys.argv = argv
    torch.cuda.device_count, torch.cuda.current_device = (lambda: 1), (lambda: 0)  # one device, as main.py asks
    try:
        cfgs, _, run_name, _, _ = studiogan_main.load_configs_initialize_training()
    finally:
        sys.argv, torch.cuda.device_count, torch.cuda.current_device = saved
    return cfgs, run_name


def build_worker(
    cfg_file: str | Path,
    data_dir: str | Path,
    save_dir: str | Path,
    seed: int = 0,
    device: str = "cpu",
    logger: logging.Logger | None = None,
) -> Any:
    """A ready StudioGAN ``WORKER`` (training mode, data iterator prepared) on ``device``."""
    import data_util  # StudioGAN's
    import models.model as model  # StudioGAN's
    import utils.misc as misc  # StudioGAN's
    from torch.utils.data import DataLoader
    from worker import WORKER  # StudioGAN's

    cfgs, run_name = load_configs(cfg_file, data_dir, save_dir, seed)
    misc.fix_seed(cfgs.RUN.seed)
    gen, gen_mapping, gen_synthesis, dis, gen_ema, gen_ema_mapping, gen_ema_synthesis, ema = (
        model.load_generator_discriminator(
            DATA=cfgs.DATA,
            OPTIMIZATION=cfgs.OPTIMIZATION,
            MODEL=cfgs.MODEL,
            STYLEGAN=cfgs.STYLEGAN,
            MODULES=cfgs.MODULES,
            RUN=cfgs.RUN,
            device=device,
            logger=None,
        )
    )
    cfgs.define_optimizer(gen, dis)
    opt = cfgs.OPTIMIZATION
    opt.basket_size = opt.batch_size * opt.acml_steps * opt.d_updates_per_step
    dataset = data_util.Dataset_(
        data_name=cfgs.DATA.name,
        data_dir=cfgs.RUN.data_dir,
        train=True,
        crop_long_edge=cfgs.PRE.crop_long_edge,
        resize_size=cfgs.PRE.resize_size,
        resizer=cfgs.RUN.pre_resizer,
        random_flip=cfgs.PRE.apply_rflip,
        normalize=True,
        hdf5_path=None,
        load_data_in_memory=False,
    )
    loader = DataLoader(
        dataset,
        batch_size=opt.basket_size,
        shuffle=True,
        num_workers=0,
        drop_last=True,
        generator=torch.Generator().manual_seed(seed),
    )
    aa_p = cfgs.AUG.ada_initial_augment_p if cfgs.AUG.ada_initial_augment_p != "N/A" else cfgs.AUG.apa_initial_augment_p
    worker = WORKER(
        cfgs=cfgs,
        run_name=run_name,
        Gen=gen,
        Gen_mapping=gen_mapping,
        Gen_synthesis=gen_synthesis,
        Dis=dis,
        Gen_ema=gen_ema,
        Gen_ema_mapping=gen_ema_mapping,
        Gen_ema_synthesis=gen_ema_synthesis,
        ema=ema,
        eval_model=None,
        train_dataloader=loader,
        eval_dataloader=None,
        global_rank=0,
        local_rank=device,
        mu=None,
        sigma=None,
        real_feats=None,
        logger=logger or logging.getLogger(f"studiogan_nda.{run_name}"),
        aa_p=aa_p,
        best_step=0,
        best_fid=None,
        best_ckpt_path=None,
        lecam_emas=None,
        num_eval={},
        loss_list_dict={"gen_loss": [], "dis_loss": [], "cls_loss": []},
        metric_dict_during_train={},
    )
    worker.training, worker.topk = True, opt.batch_size
    worker.prepare_train_iter(epoch_counter=0)
    return worker
