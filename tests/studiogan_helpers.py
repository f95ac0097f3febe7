"""Fixtures and helpers of the studiogan_nda tests: the vendored StudioGAN, real CIFAR-10, WORKER.

StudioGAN (commit 947b35e, ``../shared/vendor``) is extracted once per session into a temporary
folder. In-process tests import its flat modules (``config``, ``worker``, ``utils``, ...) with the
:func:`studiogan` fixture, which removes them from ``sys.modules`` again afterwards (and puts back
any same-named modules another test had imported), so other packages' tests are not affected.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "plugins" / "studiogan" / "configs"
CPU_NDA = CONFIGS / "CPU" / "DCGAN-NDA-jigsaw-cpu.yaml"
CPU_PLAIN = CONFIGS / "CPU" / "DCGAN-cpu.yaml"
ARCHIVE_NAME = "PyTorch-StudioGAN-947b35e.tar.xz"
TRAIN_PER_CLASS = 8  # 80 real CIFAR-10 images
VALID_PER_CLASS = 2
BATCH = 8
THREADS = 2


def vendor_archive() -> Path:
    """The StudioGAN snapshot in ``../shared/vendor`` (beside the offline data folder)."""
    from nda_core.data import shared_data_dir

    return shared_data_dir().parent / "vendor" / ARCHIVE_NAME


@pytest.fixture(scope="session")
def studiogan_root(tmp_path_factory) -> Path:
    """The vendored StudioGAN checkout, extracted into a temporary folder."""
    archive = vendor_archive()
    if not archive.is_file():
        pytest.fail(f"vendored StudioGAN sources missing: {archive} (see ../shared/vendor/README.md)")
    dest = tmp_path_factory.mktemp("studiogan")
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return dest / "PyTorch-StudioGAN"


@pytest.fixture(scope="session")
def studiogan_data(tmp_path_factory, cifar_root: Path) -> Path:
    """A StudioGAN image-folder dataset of real CIFAR-10 images: train/<class>/ and valid/<class>/ links."""
    from nda_core.data import class_files

    dest = tmp_path_factory.mktemp("studiogan_data")
    for split, target, per_class in (("train", "train", TRAIN_PER_CLASS), ("test", "valid", VALID_PER_CLASS)):
        files, classes = class_files(cifar_root / split, per_class=per_class, seed=0)
        for file, label in files:
            folder = dest / target / classes[label]
            folder.mkdir(parents=True, exist_ok=True)
            (folder / file.name).symlink_to(file)
    return dest


def _studiogan_module_names() -> list[str]:
    from studiogan_nda.checkout import TOP_LEVEL_MODULES

    return [name for name in sys.modules if name.split(".")[0] in TOP_LEVEL_MODULES]


@pytest.fixture(scope="module")
def studiogan(studiogan_root: Path) -> Iterator[SimpleNamespace]:
    """StudioGAN's modules imported in this process with the NDA hooks installed (removed afterwards)."""
    from studiogan_nda import checkout, hooks

    stashed = {name: sys.modules.pop(name) for name in _studiogan_module_names()}
    saved_path = list(sys.path)
    saved_env = os.environ.get("WANDB_MODE")
    os.environ["WANDB_MODE"] = "disabled"
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        src = checkout.add_to_path(studiogan_root)
        hooks.install()
        import config
        import data_util
        import main as studiogan_main
        import models.model as model
        import utils.losses as losses
        import utils.misc as misc
        import worker

        yield SimpleNamespace(
            root=studiogan_root,
            src=src,
            config=config,
            worker=worker,
            model=model,
            losses=losses,
            misc=misc,
            data_util=data_util,
            main=studiogan_main,
            hooks=hooks,
        )
    finally:
        hooks.uninstall()
        for name in _studiogan_module_names():
            del sys.modules[name]
        sys.modules.update(stashed)
        sys.path[:] = saved_path
        torch.set_num_threads(saved_threads)
        if saved_env is None:
            os.environ.pop("WANDB_MODE", None)
        else:
            os.environ["WANDB_MODE"] = saved_env


def write_yaml(path: Path, base: Path | None = None, **sections: dict[str, Any]) -> Path:
    """A flat StudioGAN YAML: the sections of the flat YAML ``base`` (if any) updated key by key with ``sections``."""
    import yaml

    from studiogan_nda.settings import read_yaml

    data = read_yaml(base) if base is not None else {}
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def load_cfgs(cfg_file: Path, data_dir: Path, save_dir: Path, seed: int = 0):
    """StudioGAN's own main.py config path: argument parsing, Configurations, RUN settings, checks
    (StudioGAN imported by the :func:`studiogan` fixture)."""
    from studiogan_nda.build import load_configs

    return load_configs(cfg_file, data_dir, save_dir, seed)


def build_worker(cfg_file: Path, data_dir: Path, save_dir: Path, seed: int = 0):
    """StudioGAN's model builders, optimizers, dataset and WORKER on the CPU (studiogan_nda.build;
    StudioGAN imported by the :func:`studiogan` fixture)."""
    from studiogan_nda.build import build_worker as build

    return build(cfg_file, data_dir, save_dir, seed, logger=logging.getLogger(f"studiogan-test-{save_dir.name}"))


def capture_baskets(worker) -> list[tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]]:
    """Record every (images, labels) basket the worker draws."""
    baskets: list = []
    draw = worker.sample_data_basket

    def sample_data_basket():
        basket = draw()
        baskets.append(basket)
        return basket

    worker.sample_data_basket = sample_data_basket
    return baskets


def discriminator_copy(worker):
    """A copy of the worker's D with its current weights and mode."""
    return copy.deepcopy(worker.Dis)


def report_hooks_in_child(cfgs, results) -> None:
    """Run in a spawned process: are the hooks back after unpickling StudioGAN's config object?"""
    from studiogan_nda import hooks

    results.put((hooks.is_installed(), cfgs.LOSS.apply_nda, cfgs.LOSS.nda, sys.modules["config"].__file__))
