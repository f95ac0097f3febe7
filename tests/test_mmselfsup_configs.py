"""The plugin configs parse, carry the paper's settings, and their models build."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("mmselfsup")
import mmselfsup_nda  # noqa: E402,F401
from mmengine.config import Config  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from mmselfsup_helpers import ROOT  # noqa: E402

NDA_KINDS = ("jigsaw", "stitch", "cutout", "cutmix", "mixup")
ALL_CONFIGS = sorted(p for p in (ROOT / "plugins").glob("mm*/*/*.py") if p.parent.name != "data")


def load(relative: str) -> Config:
    return Config.fromfile(str(ROOT / "plugins" / relative))


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=lambda p: str(p.relative_to(ROOT / "plugins")))
def test_every_config_parses(path: Path):
    cfg = Config.fromfile(str(path))
    assert cfg.model.type in ("MoCo", "NDAMoCo", "ImageClassifier")
    assert "mmselfsup_nda" in cfg.custom_imports.imports


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
def test_cifar_pretraining_settings_match_the_paper(dataset: str):
    baseline = load(f"mmselfsup/{dataset}/mocov2_resnet18_{dataset}.py")
    for kind in NDA_KINDS:
        cfg = load(f"mmselfsup/{dataset}/nda-mocov2-{kind}_resnet18_{dataset}.py")
        assert cfg.model.type == "NDAMoCo" and cfg.model.nda.type == kind
        assert cfg.model.head.type == "NDAContrastiveHead" and cfg.model.num_nda_views == 2
        for setting in (cfg, baseline):
            assert setting.train_dataloader.batch_size == 256 and setting.optimizer.lr == 0.3
            assert setting.model.head.temperature == 0.07 and setting.train_cfg.max_epochs == 1000
            assert setting.model.feat_dim == 2048 and setting.model.neck.out_channels == 2048
            assert setting.model.backbone.type == "mmcls.ResNet_CIFAR"
    assert baseline.model.type == "MoCo" and "nda" not in baseline.model


def test_imagenet100_settings_match_the_paper():
    for kind in NDA_KINDS:
        cfg = load(f"mmselfsup/imagenet100/nda-mocov2-{kind}_resnet50_in100.py")
        assert cfg.model.nda.type == kind
        assert cfg.train_dataloader.batch_size * 8 == 128 and cfg.optimizer.lr == 0.015
        assert cfg.model.head.temperature == 0.2 and cfg.model.feat_dim == 128 and cfg.train_cfg.max_epochs == 200


def test_linear_settings_match_the_paper():
    for name, lr in (("linear_resnet18_cifar10", 10.0), ("linear_resnet18_cifar100", 10.0), ("linear_resnet50_in100", 30.0)):
        cfg = load(f"mmselfsup/linear/{name}.py")
        assert cfg.optimizer.lr == lr and cfg.train_cfg.max_epochs == 100
        assert cfg.model.backbone.frozen_stages == 4 and cfg.model.backbone.init_cfg.prefix == "backbone."
        assert cfg.train_dataloader.batch_size * (8 if "in100" in name else 1) == 256


@pytest.mark.parametrize(
    "relative",
    ["mmselfsup/cifar10/nda-mocov2-stitch_resnet18_cifar10.py", "mmselfsup/imagenet100/nda-mocov2-mixup_resnet50_in100.py",
     "mmpretrain/cifar10/nda-mocov2-cutmix_resnet18_cifar10.py"],
)
def test_paper_models_build(relative: str):
    cfg = load(relative)
    registry = {"mmselfsup": "mmselfsup.registry", "mmpretrain": "mmpretrain.registry"}[cfg.default_scope]
    models = __import__(registry, fromlist=["MODELS"]).MODELS
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = models.build(cfg.model)
    assert type(model).__name__ == "NDAMoCo" and model.nda.name == cfg.model.nda.type
    assert model.queue.shape == (cfg.model.feat_dim, cfg.model.queue_len)
