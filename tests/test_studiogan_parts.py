"""studiogan_nda's parts that need no StudioGAN import: settings and ``_base_`` composition, the
checkout finder, the CIFAR-10-C corruptions, and the workarounds (CPU device mode, wandb.Image,
numpy scalars in weights_only checkpoints)."""

from __future__ import annotations

import io
import pickle
import sys
import types
from pathlib import Path

import pytest
import torch

from studiogan_helpers import studiogan_root  # noqa: F401 - fixture
from studiogan_nda import checkout, corruptions
from studiogan_nda.settings import NDA_KEYS, check_nda_settings, read_yaml


# -- settings ----------------------------------------------------------------------------------
def test_base_composition_merges_sections_key_by_key(tmp_path):
    (tmp_path / "a.yaml").write_text("DATA: {name: A, img_size: 32}\nLOSS: {adv_loss: hinge, nda: {type: jigsaw, k: 2}}\n")
    (tmp_path / "b.yaml").write_text("_base_: a.yaml\nDATA: {img_size: 64}\n")
    (tmp_path / "c.yaml").write_text("_base_: [b.yaml]\nLOSS: {nda: {type: stitch}}\n")
    assert read_yaml(tmp_path / "c.yaml") == {
        "DATA": {"name": "A", "img_size": 64},
        "LOSS": {"adv_loss": "hinge", "nda": {"type": "stitch"}},  # a leaf's value replaces the whole entry
    }


def test_base_cycles_and_bad_files_are_refused(tmp_path):
    (tmp_path / "x.yaml").write_text("_base_: y.yaml\n")
    (tmp_path / "y.yaml").write_text("_base_: x.yaml\n")
    with pytest.raises(ValueError, match="cycle"):
        read_yaml(tmp_path / "x.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="must map sections"):
        read_yaml(tmp_path / "list.yaml")
    with pytest.raises(ValueError, match="does not exist"):
        read_yaml(tmp_path / "missing.yaml")


def test_settings_defaults_off_and_every_loss_maps_to_nda_core():
    assert not check_nda_settings({}).apply
    assert NDA_KEYS == {"apply_nda": False, "nda_lambda": 0.25, "nda": {"type": "jigsaw", "k": 2}}
    kinds = {loss: check_nda_settings({"apply_nda": True, "adv_loss": loss}).kind for loss in
             ("vanilla", "logistic", "least_square", "hinge", "wasserstein")}
    assert kinds == {"vanilla": "vanilla", "logistic": "logistic", "least_square": "ls", "hinge": "hinge", "wasserstein": "wasserstein"}
    mixture = {"type": "mixture", "transforms": ["jigsaw", "stitch"], "weights": [1, 1]}
    assert check_nda_settings({"apply_nda": True, "nda": mixture}).spec == mixture


def test_settings_refuse_undefined_modes_and_bad_values():
    with pytest.raises(ValueError, match="MODEL.d_cond_mtd='MH'"):
        check_nda_settings({"apply_nda": True, "adv_loss": "hinge"}, {"d_cond_mtd": "MH"})
    with pytest.raises(TypeError, match="LOSS.nda = .*accepts"):
        check_nda_settings({"nda": {"type": "jigsaw", "size": 2}})
    with pytest.raises(ValueError, match="needs images="):
        check_nda_settings({"apply_nda": True, "nda": {"type": "other_dataset"}})
    with pytest.raises(ValueError, match="jigsaw needs H divisible by k"):
        check_nda_settings({"apply_nda": True, "nda": {"type": "jigsaw", "k": 3}}, data={"img_size": 32})


# -- the checkout ----------------------------------------------------------------------------------
def test_find_root_accepts_src_and_env(studiogan_root, monkeypatch):
    assert checkout.find_root(studiogan_root / "src") == studiogan_root.resolve()
    monkeypatch.setenv(checkout.ROOT_ENV, str(studiogan_root))
    assert checkout.find_root() == studiogan_root.resolve()


def test_add_to_path_refuses_a_foreign_module_of_the_same_name(studiogan_root, monkeypatch):
    monkeypatch.setitem(sys.modules, "utils", types.SimpleNamespace(__file__="/elsewhere/utils.py"))
    with pytest.raises(ValueError, match=r"utils \(/elsewhere/utils.py\)"):
        checkout.add_to_path(studiogan_root)


# -- usage errors ----------------------------------------------------------------------------------
def _raised(call) -> BaseException:
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    return info.value


def test_only_errors_of_our_own_checks_are_usage_errors(monkeypatch):
    """Errors raised in studiogan_nda or nda_core are shown as usage errors; those of numpy, torch or any
    other module installed beside studiogan_nda (site-packages, a venv in the checkout) keep their traceback."""
    import numpy as np

    import studiogan_nda
    from nda_core._checks import check_int
    from studiogan_nda.cli import _raised_by_studiogan_nda

    monkeypatch.delenv(checkout.ROOT_ENV, raising=False)
    assert _raised_by_studiogan_nda(_raised(checkout.find_root))
    assert _raised_by_studiogan_nda(_raised(lambda: check_int(1, "--num-images", 2)))
    assert not _raised_by_studiogan_nda(_raised(lambda: np.split(np.arange(3), 2)))
    beside = Path(studiogan_nda.__file__).resolve().parents[1] / "a_module_beside_studiogan_nda.py"
    code = compile("raise ValueError('not ours')", str(beside), "exec")
    assert not _raised_by_studiogan_nda(_raised(lambda: exec(code, {})))
    assert not _raised_by_studiogan_nda(ValueError("never raised"))


# -- corruptions ----------------------------------------------------------------------------------
def grey(value: int = 128, size: int = 32) -> torch.Tensor:
    return torch.full((4, 3, size, size), value, dtype=torch.uint8)


def test_every_corruption_is_uint8_same_shape_and_seeded(cifar_batch):
    images = cifar_batch[0][:8]
    for name in corruptions.available():
        a = corruptions.corrupt(images, name, torch.Generator().manual_seed(0))
        b = corruptions.corrupt(images, name, torch.Generator().manual_seed(0))
        assert a.dtype == torch.uint8 and a.shape == images.shape and torch.equal(a, b), name
        assert not torch.equal(a, images), name
    assert len(corruptions.available()) == 10


def test_corruptions_follow_cifar10c_severity5_constants():
    g = torch.Generator().manual_seed(0)
    noise = corruptions.corrupt(grey(), "gaussian_noise", g).double() / 255 - 128 / 255
    assert abs(noise.std().item() - 0.10) < 0.005
    speckle = corruptions.corrupt(grey(), "speckle_noise", g).double() / 255
    assert abs(speckle.std().item() - 0.20 * 128 / 255) < 0.005
    impulse = corruptions.corrupt(grey(), "impulse_noise", g)
    hit = (impulse != 128).double().mean().item()
    assert abs(hit - 0.07) < 0.01 and set(impulse[impulse != 128].unique().tolist()) <= {0, 255}
    ramp = torch.arange(32, dtype=torch.uint8).mul(8).expand(4, 3, 32, 32).contiguous()
    contrast = corruptions.corrupt(ramp, "contrast").double()
    assert abs(contrast.std().item() - 0.15 * ramp.double().std().item()) < 1.0
    bright = corruptions.corrupt(grey(100), "brightness")
    assert torch.all((bright.int() - round(100 + 0.3 * 255)).abs() <= 1)
    box = torch.zeros(1, 1, 9, 9, dtype=torch.uint8)
    box[..., 4, 4] = 255
    defocused = corruptions.corrupt(box.expand(1, 3, 9, 9).contiguous(), "defocus_blur")[0, 0]
    assert torch.all(defocused[3:6, 3:6] == round(255 / 9)) and defocused.sum() == 9 * round(255 / 9)  # 3x3 disk
    pixelated = corruptions.corrupt(ramp, "pixelate")
    assert pixelated[0, 0, 0].unique().numel() < ramp[0, 0, 0].unique().numel()


def test_corruption_input_checks():
    with pytest.raises(ValueError, match="name must be one of"):
        corruptions.corrupt(grey(), "fog")
    with pytest.raises(TypeError, match="uint8 batch"):
        corruptions.corrupt(grey().float(), "contrast")


# -- workarounds ---------------------------------------------------------------------------------------
def test_cuda_to_cpu_mode_maps_studiogans_device_arguments():
    from studiogan_nda.workarounds import CudaToCpuMode

    with CudaToCpuMode():
        layer = torch.nn.Linear(2, 2).to(0)
        x = torch.zeros(2, 2, device=0).to("cuda:0").cuda()
        y = torch.ones(2, device=torch.device("cuda", 0)).to(0, non_blocking=True)
        z = torch.zeros(2, dtype=torch.float64).to(torch.float32)
    assert layer.weight.device.type == x.device.type == y.device.type == "cpu" and z.dtype == torch.float32


def test_wandb_image_takes_studiogans_batches_after_the_workaround(monkeypatch):
    wandb = pytest.importorskip("wandb")
    from studiogan_nda import workarounds

    monkeypatch.setattr(wandb, "Image", wandb.Image)  # restored after the test
    if workarounds._wandb_image_rejects_batches():
        workarounds._wandb_accepts_batches()
    image = wandb.Image(torch.rand(16, 3, 8, 8) * 2 - 1)  # StudioGAN's [-1, 1] canvas batch
    assert image.image.size == (8 * 8 + 2 * 9, 2 * 8 + 2 * 3)  # make_grid: 8 per row, padding 2
    assert not workarounds._wandb_image_rejects_batches()


def test_weights_only_checkpoints_with_numpy_scalars_load_after_the_workaround():
    import numpy as np

    from studiogan_nda import workarounds

    buffer = io.BytesIO()
    torch.save({"aa_p": np.float64(0.25), "step": 3}, buffer)
    if workarounds._weights_only_rejects_numpy_scalars():
        with pytest.raises(pickle.UnpicklingError, match=r"Weights only load failed(.|\n)*Unsupported global: GLOBAL numpy"):
            torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)
    with torch.serialization.safe_globals(workarounds.numpy_safe_types()):
        loaded = torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)
    assert loaded == {"aa_p": 0.25, "step": 3}
    unsafe = io.BytesIO()
    torch.save({"f": io.BytesIO}, unsafe)
    with pytest.raises(pickle.UnpicklingError, match=r"Weights only load failed(.|\n)*Unsupported global: GLOBAL _io.BytesIO"):
        with torch.serialization.safe_globals(workarounds.numpy_safe_types()):  # nothing else became loadable
            torch.load(io.BytesIO(unsafe.getvalue()), weights_only=True)


def test_workarounds_switch_off(monkeypatch):
    from nda_core import workarounds as core
    from studiogan_nda import workarounds

    monkeypatch.setattr(core, "_applied", {})
    monkeypatch.setattr(core, "_reported_off", set())
    monkeypatch.setenv("NDA_WORKAROUNDS", "off")
    assert workarounds.apply(cpu=True) == []
    monkeypatch.setenv("NDA_WORKAROUNDS", "-cuda-tensors-on-cpu,-cuda-device-queries-on-cpu,-wandb-image-batch,"
                       "-best-checkpoint-without-metrics,-numpy-scalars-in-checkpoints")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert workarounds.apply(cpu=True) == ["wandb-disabled-on-cpu"]


# -- anomaly scoring -------------------------------------------------------------------------------------
class _ToyDiscriminator(torch.nn.Module):
    """D(x, y) = mean(x) + y (projection-like: the output depends on the label)."""

    def forward(self, x, label, eval=False):  # noqa: A002 - StudioGAN's keyword
        return {"adv_output": x.mean(dim=(1, 2, 3)) + label.float()}


def _cfgs(d_cond_mtd: str, classes: int, size: int = 8):
    return types.SimpleNamespace(
        DATA=types.SimpleNamespace(img_size=size, num_classes=classes), MODEL=types.SimpleNamespace(d_cond_mtd=d_cond_mtd)
    )


def test_anomaly_scores_use_studiogans_normalisation_and_best_class():
    from studiogan_nda.anomaly import discriminator_scores

    images = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1).expand(2, 3, 8, 8).contiguous()
    unconditional = discriminator_scores(_ToyDiscriminator(), images, _cfgs("W/O", 10), batch_size=1)
    assert unconditional.tolist() == [-1.0, 1.0]  # x / 127.5 - 1, label 0
    projection = discriminator_scores(_ToyDiscriminator(), images, _cfgs("PD", 10))
    assert projection.tolist() == [8.0, 10.0]  # max over the 10 classes
    resized = discriminator_scores(_ToyDiscriminator(), images, _cfgs("W/O", 1, size=4))
    assert resized.tolist() == [-1.0, 1.0]
