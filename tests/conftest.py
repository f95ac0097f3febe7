"""Shared fixtures (real CIFAR-10 images from the offline data folder) and the suite's skip policy.

Every test runs by default. The only tests that may skip are those marked ``gpu`` on a machine
without CUDA; any other skip (a missing extra behind ``pytest.importorskip``, a ``pytest.skip``) is
turned into a failure, so a CI run that quietly checked less does not pass.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from nda_core.data import CIFAR10_ARCHIVE, cifar10_root, load_image_folder, shared_data_dir

IMAGES_PER_CLASS = 8
GPU_MARKER = "gpu"
GPU_SKIP_REASON = (
    "needs a CUDA GPU (torch.cuda.is_available() is False here); benchmarks/gpu_check.sh runs the "
    "GPU-only tests on a machine that has one"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the tests marked ``gpu`` where CUDA is not available, all with the same reason."""
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason=GPU_SKIP_REASON)
    for item in items:
        if item.get_closest_marker(GPU_MARKER) is not None:
            item.add_marker(skip_gpu)


def _not_allowed(what: str, longrepr: object) -> str:
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return (
        f"{what} skipped ({reason}), but only tests marked `{GPU_MARKER}` may skip (on a machine without "
        f"CUDA); every other test runs (for a missing package, install every extra: pip install -e '.[all]')."
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    """A module that skips itself (``pytest.importorskip`` at import) fails instead."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped:
        report.outcome = "failed"
        report.longrepr = _not_allowed(str(collector.nodeid), report.longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A skip of a test not marked ``gpu`` fails instead."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and item.get_closest_marker(GPU_MARKER) is None:
        report.outcome = "failed"
        report.longrepr = _not_allowed(item.nodeid, report.longrepr)


def _require_shared_archive() -> Path:
    archive = shared_data_dir() / CIFAR10_ARCHIVE
    if not archive.is_file():
        pytest.fail(
            f"real test data missing: {archive} not found; the tests read CIFAR-10 from ../shared/data "
            f"(or set NDA_DATA to the folder holding {CIFAR10_ARCHIVE})."
        )
    return archive


@pytest.fixture(scope="session")
def cifar_root() -> Path:
    """Root of the extracted CIFAR-10 image-folder tree (train/, test/)."""
    return cifar10_root(_require_shared_archive())


@pytest.fixture(scope="session")
def cifar_batch(cifar_root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """80 real CIFAR-10 training images (uint8, 8 per class) and their labels."""
    images, labels, _ = load_image_folder(cifar_root / "train", per_class=IMAGES_PER_CLASS, seed=0)
    return images, labels


@pytest.fixture(scope="session")
def cifar_float(cifar_batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """The same images as float32 in [0, 1]."""
    return cifar_batch[0].float() / 255.0


@pytest.fixture(scope="session")
def nda_moco_run(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """One real 1-epoch run of mmengine's Runner on the CPU NDA MoCo config, shrunk to 20 real
    CIFAR-10 images (2 iterations of 8), shared by the tests that need a trained run.

    Fields: ``work_dir`` (with ``epoch_1.pth``), ``ann_file``, ``iters`` (iterations run), ``model``
    (the trained model; read it, never change it), ``queue_before`` (the queue before training) and
    ``seen`` (the head's inputs and outputs and the enqueued keys of every iteration).
    """
    from mmengine.runner import Runner
    from mmselfsup_helpers import MMSELFSUP_CPU_NDA, record_head_and_queue, tiny_config, write_subset

    import mmselfsup_nda  # noqa: F401  (registers NDAMoCo and applies the workarounds)

    folder = tmp_path_factory.mktemp("nda_moco_run")
    ann_file = write_subset(folder / "train_20.txt")
    runner = Runner.from_cfg(tiny_config(MMSELFSUP_CPU_NDA, folder / "work", ann_file))
    queue_before = runner.model.queue.clone()
    seen = record_head_and_queue(runner.model)
    runner.train()
    return SimpleNamespace(
        work_dir=folder / "work",
        ann_file=ann_file,
        iters=runner.iter,
        model=runner.model,
        queue_before=queue_before,
        seen=seen,
    )


@pytest.fixture
def quiet_lightning():
    """Lightning's loggers at ERROR and its expected small-run warnings ignored, for the test's duration."""
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", ".*(does not have many workers|LeafSpec|no `val_dataloader`|litlogger|Checkpoint directory).*"
        )
        yield
