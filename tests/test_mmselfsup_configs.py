"""The plugin configs parse, carry the paper's settings, and their models build."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mmselfsup")
from mmengine.config import Config  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from mmselfsup_helpers import ROOT  # noqa: E402

import mmselfsup_nda  # noqa: E402,F401
from nda_core.errors import UsageError  # noqa: E402

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
    baseline = load(f"mmselfsup/{dataset}/mocov2_resnet18_1xb256-coslr-1000e_{dataset}.py")
    for kind in NDA_KINDS:
        cfg = load(f"mmselfsup/{dataset}/nda-mocov2-{kind}_resnet18_1xb256-coslr-1000e_{dataset}.py")
        assert cfg.model.type == "NDAMoCo" and cfg.model.nda.type == kind
        assert cfg.model.head.type == "NDAContrastiveHead" and cfg.model.num_nda_views == 2
        for setting in (cfg, baseline):
            assert (
                setting.train_dataloader.batch_size == 256
                and setting.optim_wrapper.optimizer.lr == setting.optimizer.lr == 0.3
            )
            assert setting.model.head.temperature == 0.07 and setting.train_cfg.max_epochs == 1000
            assert setting.model.feat_dim == 2048 and setting.model.neck.out_channels == 2048
            assert setting.model.backbone.type == "mmcls.ResNet_CIFAR"
            assert (
                setting.data_preprocessor.mean == STATS[dataset][0]
                and setting.data_preprocessor.std == STATS[dataset][1]
            )
    assert baseline.model.type == "MoCo" and "nda" not in baseline.model


def test_imagenet100_settings_match_the_paper():
    for kind in NDA_KINDS:
        cfg = load(f"mmselfsup/imagenet100/nda-mocov2-{kind}_resnet50_8xb16-coslr-200e_in100.py")
        assert cfg.model.nda.type == kind
        assert (
            cfg.train_dataloader.batch_size * 8 == 128 and cfg.optim_wrapper.optimizer.lr == cfg.optimizer.lr == 0.015
        )
        assert cfg.model.head.temperature == 0.2 and cfg.model.feat_dim == 128 and cfg.train_cfg.max_epochs == 200


def test_linear_settings_match_the_paper():
    """Frozen backbone, linear classifier on the pooled features, the paper's lr and epochs."""
    for name, lr in (
        ("resnet18_linear-1xb256-steplr-100e_cifar10", 10.0),
        ("resnet18_linear-1xb256-steplr-100e_cifar100", 10.0),
        ("resnet50_linear-8xb32-steplr-100e_in100", 30.0),
    ):
        cfg = load(f"mmselfsup/linear/{name}.py")
        assert cfg.optim_wrapper.optimizer.lr == cfg.optimizer.lr == lr and cfg.train_cfg.max_epochs == 100
        assert cfg.model.backbone.frozen_stages == 4 and cfg.model.backbone.init_cfg.prefix == "backbone."
        assert cfg.train_dataloader.batch_size * (8 if "in100" in name else 1) == 256


@pytest.mark.parametrize(
    "relative",
    [
        "mmselfsup/cifar10/nda-mocov2-stitch_resnet18_1xb256-coslr-1000e_cifar10.py",
        "mmselfsup/imagenet100/nda-mocov2-mixup_resnet50_8xb16-coslr-200e_in100.py",
        "mmpretrain/cifar10/nda-mocov2-cutmix_resnet18_1xb256-coslr-1000e_cifar10.py",
    ],
)
def test_paper_models_build(relative: str):
    cfg = load(relative)
    registry = {"mmselfsup": "mmselfsup.registry", "mmpretrain": "mmpretrain.registry"}[cfg.default_scope]
    models = __import__(registry, fromlist=["MODELS"]).MODELS
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = models.build(cfg.model)
    assert type(model).__name__ == "NDAMoCo" and model.nda.name == cfg.model.nda.type
    assert model.queue.shape == (cfg.model.feat_dim, cfg.model.queue_len)


def _datasets(cfg: Config) -> list[dict]:
    return [cfg[name].dataset for name in ("train_dataloader", "val_dataloader") if name in cfg]


def _build_dataset(cfg: Config, dataset: dict):
    """Build ``dataset`` with the registry of the config's default scope, as the Runner does."""
    registry = {"mmselfsup": "mmselfsup.registry", "mmpretrain": "mmpretrain.registry", "mmcls": "mmcls.registry"}
    datasets = __import__(registry[cfg.default_scope], fromlist=["DATASETS"]).DATASETS
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return datasets.build(dataset)


def test_every_cifar10_config_reads_its_root_from_one_variable_with_a_relative_default(tmp_path, monkeypatch):
    """No code in the configs: mmengine substitutes $NDA_CIFAR10_ROOT (default data/cifar10) into the text."""
    assert len(CIFAR10_CONFIGS) >= 10 and any("mmpretrain" in p.parts for p in CIFAR10_CONFIGS)
    monkeypatch.delenv("NDA_CIFAR10_ROOT", raising=False)
    for path in CIFAR10_CONFIGS:
        datasets = _datasets(Config.fromfile(str(path)))
        assert {d.data_root for d in datasets} == {"data/cifar10"}, path
        assert {d.type.split(".")[-1] for d in datasets} == {"CIFAR10Folder"}, path
    monkeypatch.setenv("NDA_CIFAR10_ROOT", str(tmp_path / "my cifar"))  # no folder needed to load a config
    for path in CIFAR10_CONFIGS:
        assert {d.data_root for d in _datasets(Config.fromfile(str(path)))} == {str(tmp_path / "my cifar")}, path
    for base in ROOT.glob("plugins/mm*/_base_/datasets/cifar10.py"):
        assert "import" not in base.read_text() and "SystemExit" not in base.read_text()


@pytest.mark.parametrize(
    "relative",
    [
        "mmselfsup/cpu/nda-mocov2-jigsaw_resnet18-w16_1xb32-coslr-2e_cifar10-500.py",
        "mmselfsup/cifar10/mocov2_resnet18_1xb256-coslr-1000e_cifar10.py",
        "mmselfsup/linear/resnet18_linear-1xb256-steplr-100e_cifar10.py",
        "mmpretrain/cpu/nda-mocov2-jigsaw_resnet18-w16_1xb32-coslr-2e_cifar10-500.py",
    ],
)
def test_a_missing_cifar10_root_stops_the_dataset_build_naming_variable_and_command(relative, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default data/cifar10 does not exist here
    monkeypatch.delenv("NDA_CIFAR10_ROOT", raising=False)
    cfg = load(relative)
    for dataset in _datasets(cfg):
        with pytest.raises(UsageError) as error:
            _build_dataset(cfg, dataset)
        message = str(error.value)
        assert "\n" not in message and f"data_root='data/cifar10': 'data/cifar10/{dataset.data_prefix}'" in message
        assert "NDA_CIFAR10_ROOT is not set" in message
        assert "`export NDA_CIFAR10_ROOT=$(nda data cifar10 --print-root)`" in message
    monkeypatch.setenv("NDA_CIFAR10_ROOT", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match=f"NDA_CIFAR10_ROOT is '{tmp_path / 'empty'}'"):
        _build_dataset(load(relative), _datasets(load(relative))[0])


def test_a_prepared_cifar10_root_builds_the_frameworks_own_dataset(cifar_root, monkeypatch):
    """CIFAR10Folder is the framework's CustomDataset with a check in front: same samples, same pipeline."""
    monkeypatch.setenv("NDA_CIFAR10_ROOT", str(cifar_root))
    for relative, upstream_type in (
        ("mmselfsup/cpu/nda-mocov2-jigsaw_resnet18-w16_1xb32-coslr-2e_cifar10-500.py", "mmcls.CustomDataset"),
        ("mmpretrain/cpu/nda-mocov2-jigsaw_resnet18-w16_1xb32-coslr-2e_cifar10-500.py", "mmpretrain.CustomDataset"),
    ):
        cfg = load(relative)
        ours = _build_dataset(cfg, cfg.train_dataloader.dataset)
        upstream = _build_dataset(cfg, dict(cfg.train_dataloader.dataset, type=upstream_type))
        assert type(ours).__name__ == "CIFAR10Folder" and isinstance(ours, type(upstream))
        assert len(ours) == len(upstream) == 500
        paths = [[dataset.get_data_info(i)["img_path"] for i in (0, 499)] for dataset in (ours, upstream)]
        assert paths[0] == paths[1]
        assert repr(ours.pipeline) == repr(upstream.pipeline)


TREES = ("mmselfsup", "mmpretrain")
PLUGINS = ROOT / "plugins"
# Files of the mmpretrain tree that repeat a file of the mmselfsup tree (each tree is copied alone).
MIRRORED = [
    "_base_/datasets/cifar10.py",
    "_base_/models/nda-mocov2.py",
    "_base_/schedules/sgd_coslr-1000e.py",
    "_base_/schedules/sgd_coslr-2e_cpu.py",
]


@pytest.mark.parametrize("relative", MIRRORED)
def test_the_mmpretrain_tree_repeats_the_mmselfsup_settings_exactly(relative):
    ours, theirs = (Config.fromfile(str(ROOT / "plugins" / tree / relative)).to_dict() for tree in TREES)
    assert ours == theirs
    assert (ROOT / "plugins/mmpretrain/data/cifar10_train_500.txt").read_text() == (
        ROOT / "plugins/mmselfsup/data/cifar10_train_500.txt"
    ).read_text()


def test_mmpretrain_views_are_mmselfsups_with_mmpretrains_crop_and_packing():
    selfsup, pretrain = (Config.fromfile(str(PLUGINS / tree / "_base_/datasets/mocov2_cifar.py")) for tree in TREES)
    assert selfsup.view_pipeline[1:] == pretrain.view_pipeline[1:]
    crop = {"type": "RandomResizedCrop", "scale": 32, "crop_ratio_range": (0.2, 1.0), "backend": "pillow"}  # mmpretrain
    assert pretrain.view_pipeline[0] == crop
    selfsup_crop = {"type": "RandomResizedCrop", "size": 32, "scale": (0.2, 1.0), "backend": "pillow"}
    assert selfsup.view_pipeline[0] == selfsup_crop
    loader = {key: value for key, value in selfsup.train_dataloader.items() if key != "dataset"}
    assert loader == {key: value for key, value in pretrain.train_dataloader.items() if key != "dataset"}


def test_one_nda_model_block_per_tree_serves_every_nda_config():
    for path in [p for p in ALL_CONFIGS if p.name.startswith("nda-mocov2")]:
        cfg = Config.fromfile(str(path))
        block = dict(cfg.nda_model)
        assert block.pop("nda") == dict(type="jigsaw", k=2) and block["head"] == dict(type="NDAContrastiveHead")
        assert {key: cfg.model[key] for key in ("type", "nda_encoder", "num_nda_views")} == {
            key: block[key] for key in ("type", "nda_encoder", "num_nda_views")
        }, path
        assert cfg.model.head.type == "NDAContrastiveHead"


def test_cpu_linear_config_standardises_features_at_a_converging_lr():
    cfg = load("mmselfsup/cpu/resnet18-w16_linear-1xb32-coslr-2e_cifar10-500.py")
    assert [neck["type"] for neck in cfg.model.neck] == ["GlobalAveragePooling", "mmselfsup.FeatureBatchNorm"]
    assert cfg.model.neck[1].num_features == cfg.model.head.in_channels == 128
    assert cfg.optim_wrapper.optimizer.lr == 0.03 and cfg.train_dataloader.batch_size == 32


def test_the_prepare_command_points_the_configs_at_the_prepared_folder(cifar_root, tmp_path, monkeypatch, capsys):
    """`export NDA_CIFAR10_ROOT=$(nda data cifar10 --print-root)`: stdout is the folder alone; the configs read it."""
    import nda_core.cli

    monkeypatch.chdir(tmp_path)
    for name in ("NDA_CIFAR10_ROOT", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NDA_CACHE", str(tmp_path / "cache"))
    assert nda_core.cli.main(["data", "cifar10", "--from", str(cifar_root), "--print-root"]) == 0
    out = capsys.readouterr().out
    assert out == f"{tmp_path / 'cache' / 'cifar10-jpeg'}\n"
    monkeypatch.setenv("NDA_CIFAR10_ROOT", out.strip())
    cfg = load("mmpretrain/cpu/nda-mocov2-jigsaw_resnet18-w16_1xb32-coslr-2e_cifar10-500.py")
    assert len(_build_dataset(cfg, cfg.train_dataloader.dataset)) == 500
    assert nda_core.cli.main(["data", "cifar10", "--print-root"]) == 0  # prepared: the same folder, nothing else
    assert capsys.readouterr().out == out


MMPRETRAIN_CPU_NDA = "mmpretrain/cpu/nda-mocov2-jigsaw_resnet18-w16_1xb32-coslr-2e_cifar10-500.py"


def test_our_code_path_imports_no_pkg_resources(cifar_root):
    """The `pin to Setuptools<81` warning comes from mim and from mmengine's `pkg::` base lookup, never from
    importing mmselfsup_nda, the `nda` command, or loading and building a CIFAR config (a fresh process, so
    that nothing imported it before)."""
    code = (
        "import sys, warnings\n"
        "warnings.filterwarnings('error', message='pkg_resources is deprecated')\n"
        "import mmselfsup_nda, nda_core.cli\n"
        "from mmengine.config import Config\n"
        "from mmengine.registry import DefaultScope\n"
        "from mmpretrain.registry import DATASETS, MODELS\n"
        f"cfg = Config.fromfile({str(PLUGINS / MMPRETRAIN_CPU_NDA)!r})\n"
        "with DefaultScope.overwrite_default_scope('mmpretrain'):\n"
        "    MODELS.build(cfg.model), DATASETS.build(cfg.train_dataloader.dataset)\n"
        "assert nda_core.cli.main(['configs', 'list', 'mmpretrain/cpu/']) == 0\n"
        "print('pkg_resources' in sys.modules)\n"
    )
    env = {**os.environ, "NDA_CIFAR10_ROOT": str(cifar_root)}
    command = [sys.executable, "-c", code]
    result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1] == "False" and "pkg_resources" not in result.stderr
