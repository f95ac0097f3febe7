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
STATS = {  # RGB mean and std (0-255) of the training split
    "cifar10": ((125.307, 122.961, 113.8575), (51.5865, 50.847, 51.255)),
    "cifar100": ((129.304, 124.070, 112.434), (68.170, 65.392, 70.418)),
}
# Runnable (leaf) configs; _base_/ holds the pieces they are made of, data/ the subset lists.
ALL_CONFIGS = sorted(p for p in (ROOT / "plugins").glob("mm*/*/*.py") if p.parent.name not in ("data", "_base_"))
CIFAR10_CONFIGS = [p for p in ALL_CONFIGS if "cifar10" in p.name and "cifar100" not in p.name]


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
            assert setting.train_dataloader.batch_size == 256 and setting.optim_wrapper.optimizer.lr == setting.optimizer.lr == 0.3
            assert setting.model.head.temperature == 0.07 and setting.train_cfg.max_epochs == 1000
            assert setting.model.feat_dim == 2048 and setting.model.neck.out_channels == 2048
            assert setting.model.backbone.type == "mmcls.ResNet_CIFAR"
            assert setting.data_preprocessor.mean == STATS[dataset][0] and setting.data_preprocessor.std == STATS[dataset][1]
    assert baseline.model.type == "MoCo" and "nda" not in baseline.model


def test_imagenet100_settings_match_the_paper():
    for kind in NDA_KINDS:
        cfg = load(f"mmselfsup/imagenet100/nda-mocov2-{kind}_resnet50_in100.py")
        assert cfg.model.nda.type == kind
        assert cfg.train_dataloader.batch_size * 8 == 128 and cfg.optim_wrapper.optimizer.lr == cfg.optimizer.lr == 0.015
        assert cfg.model.head.temperature == 0.2 and cfg.model.feat_dim == 128 and cfg.train_cfg.max_epochs == 200


def test_linear_settings_match_the_paper():
    """Frozen backbone, linear classifier on the pooled features, the paper's lr and epochs."""
    for name, lr in (("linear_resnet18_cifar10", 10.0), ("linear_resnet18_cifar100", 10.0), ("linear_resnet50_in100", 30.0)):
        cfg = load(f"mmselfsup/linear/{name}.py")
        assert cfg.optim_wrapper.optimizer.lr == cfg.optimizer.lr == lr and cfg.train_cfg.max_epochs == 100
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


def _dataloader_roots(cfg: Config) -> set[str]:
    return {cfg[name].dataset.data_root for name in ("train_dataloader", "val_dataloader") if name in cfg}


@pytest.mark.parametrize("variable", ["NDA_CACHE", "XDG_CACHE_HOME", "NDA_CIFAR10_ROOT"])
def test_every_cifar10_config_reads_the_one_root_nda_core_data_names(tmp_path, monkeypatch, variable):
    from nda_core.data import cifar10_default_root

    for name in ("NDA_CACHE", "XDG_CACHE_HOME", "NDA_CIFAR10_ROOT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, str(tmp_path))
    root = cifar10_default_root()
    assert str(root).startswith(str(tmp_path))
    for split in ("train", "test"):
        (root / split).mkdir(parents=True)  # a prepared (if empty) image-folder tree
    assert len(CIFAR10_CONFIGS) >= 10
    for path in CIFAR10_CONFIGS:
        assert _dataloader_roots(Config.fromfile(str(path))) == {str(root)}, path


def test_an_unprepared_cifar10_stops_the_config_with_the_command_that_prepares_it(tmp_path, monkeypatch):
    monkeypatch.delenv("NDA_CIFAR10_ROOT", raising=False)
    monkeypatch.setenv("NDA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NDA_DATA", str(tmp_path / "no-offline-data"))
    with pytest.raises(SystemExit, match="^nda-plugins: CIFAR-10 is not prepared at .*run `nda data cifar10 --from PATH`"):
        Config.fromfile(str(ROOT / "plugins/mmselfsup/cpu/nda-mocov2-jigsaw_resnet18-w16_cifar10-500_cpu.py"))


def test_one_nda_model_block_serves_both_frameworks():
    for path in [p for p in ALL_CONFIGS if p.name.startswith("nda-mocov2")]:
        cfg = Config.fromfile(str(path))
        block = dict(cfg.nda_model)
        assert block.pop("nda") == dict(type="jigsaw", k=2) and block["head"] == dict(type="NDAContrastiveHead")
        assert {key: cfg.model[key] for key in ("type", "nda_encoder", "num_nda_views")} == {
            key: block[key] for key in ("type", "nda_encoder", "num_nda_views")
        }, path
        assert cfg.model.head.type == "NDAContrastiveHead"


def test_cpu_linear_config_standardises_features_at_a_converging_lr():
    cfg = load("mmselfsup/cpu/linear_resnet18-w16_cifar10-500_cpu.py")
    assert [neck["type"] for neck in cfg.model.neck] == ["GlobalAveragePooling", "mmselfsup.FeatureBatchNorm"]
    assert cfg.model.neck[1].num_features == cfg.model.head.in_channels == 128
    assert cfg.optim_wrapper.optimizer.lr == 0.03 and cfg.train_dataloader.batch_size == 32
