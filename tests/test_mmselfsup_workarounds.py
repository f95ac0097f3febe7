"""With mmselfsup_nda imported: checkpoints load with weights_only=True and exactly mmengine's own
types (a real checkpoint resumes, a code-running one is refused); each upstream workaround is applied
only where its symptom shows, logged once through mmengine's logger and switched off by
NDA_WORKAROUNDS; registrations warn before replacing a component that is not ours."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("mmselfsup")
from mmengine.hooks import Hook  # noqa: E402
from mmengine.logging import HistoryBuffer  # noqa: E402
from mmengine.registry import Registry  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from mmengine.runner.checkpoint import CheckpointLoader  # noqa: E402
from mmselfsup_helpers import MMSELFSUP_CPU_NDA, ROOT, tiny_config  # noqa: E402

import mmselfsup_nda  # noqa: E402
from mmselfsup_nda import NDAContrastiveHead, NDAView  # noqa: E402
from mmselfsup_nda.checkpoints import TRUST_ENV_VAR  # noqa: E402
from mmselfsup_nda.registration import register  # noqa: E402

WORKAROUNDS = (
    "mmselfsup-registry-locations",
    "mmengine-collate-scope",
    "mmcv-negative-hue",
    "mmengine-checkpoint-types",
)
SUBPROCESS_TIMEOUT_S = 300


class RunsCode:
    """A pickle payload: unpickling it calls ``exec``, which would create ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('the payload ran')",))


class ReachesThroughGetattr:
    """A payload that asks the (restricted) getattr for something other than a statistics method."""

    def __reduce__(self):
        return (getattr, (HistoryBuffer, "__init__"))


@pytest.fixture(scope="module")
def trained(nda_moco_run) -> tuple[Path, Path]:
    """(work_dir, ann_file) of a 1-epoch run of the CPU NDA config: a real mmengine checkpoint."""
    return nda_moco_run.work_dir, nda_moco_run.ann_file


def _run_python_in_parallel(scripts: dict[str, tuple[str, dict[str, str]]]) -> dict[str, subprocess.CompletedProcess]:
    """Run ``{name: (code, extra environment)}`` in fresh Python processes, all at the same time."""
    running = {}
    for name, (code, env) in scripts.items():
        environ = {key: value for key, value in os.environ.items() if key not in ("NDA_WORKAROUNDS", TRUST_ENV_VAR)}
        environ.update(env)
        running[name] = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    done = {}
    for name, process in running.items():
        stdout, stderr = process.communicate(timeout=SUBPROCESS_TIMEOUT_S)
        done[name] = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    return done


_REPORT = (
    "import json, mmselfsup.registry, mmpretrain.registry\n"
    "from mmselfsup_nda import _workarounds as W\n"
    "from nda_core.workarounds import applied\n"
    "again = W.apply_all([mmselfsup.registry, mmpretrain.registry])\n"
    "needed = {w.name: w.needed() for w in W.workarounds([mmselfsup.registry, mmpretrain.registry])}\n"
    "print('REPORT', json.dumps(dict(applied=applied(), again=again, needed=needed)))\n"
)
# mmcv's hue as a fixed release would have it
_FIXED_HUE = (
    "import mmcv.image.photometric as P\n"
    "original = P.adjust_hue\n"
    "P.adjust_hue = lambda img, hue_factor, backend=None: original(img, abs(hue_factor), backend=backend)\n"
)
_REIMPORT = (
    "import importlib, warnings\n"
    "with warnings.catch_warnings(record=True) as caught:\n"
    "    warnings.simplefilter('always')\n"
    "    for name in ('head', 'transforms', 'mmselfsup_models', 'mmpretrain_models'):\n"
    "        importlib.reload(importlib.import_module('mmselfsup_nda.' + name))\n"
    "    importlib.import_module('mmselfsup_nda.mmselfsup_models').register()\n"
    "    importlib.import_module('mmselfsup_nda.mmpretrain_models').register()\n"
    "print('NDA WARNINGS', [str(w.message) for w in caught if 'nda-plugins' in str(w.message)])\n"
)


def _stock_mmengine_loads(checkpoint: Path) -> str:
    return (
        "import pickle, mmselfsup_nda\n"
        "from mmengine.runner.checkpoint import CheckpointLoader\n"
        "try:\n"
        f"    CheckpointLoader.load_checkpoint({str(checkpoint)!r}, map_location='cpu')\n"
        "except pickle.UnpicklingError as error:\n"
        "    print('REFUSED', 'HistoryBuffer' in str(error))\n"
    )


@pytest.fixture(scope="module")
def fresh_processes(trained) -> dict[str, subprocess.CompletedProcess]:
    """Scenarios that need a process of their own (workarounds apply once per process)."""
    done = _run_python_in_parallel(
        {
            "default": ("import mmselfsup_nda\n" + _REPORT + _REIMPORT, {}),
            "off": (
                "import mmselfsup_nda\n" + _REPORT + _stock_mmengine_loads(trained[0] / "epoch_1.pth"),
                {"NDA_WORKAROUNDS": "off"},
            ),
            "absent": (
                _FIXED_HUE + "import mmselfsup_nda\n" + _REPORT,
                {"NDA_WORKAROUNDS": "-mmengine-collate-scope", TRUST_ENV_VAR: "1"},
            ),
        }
    )
    return {**done, "stock loading": done["off"], "reimport": done["default"]}


def _report(result: subprocess.CompletedProcess) -> dict:
    line = next((line for line in result.stdout.splitlines() if line.startswith("REPORT ")), None)
    assert line is not None, result.stdout + result.stderr
    return json.loads(line[len("REPORT ") :])


# --- checkpoints: weights_only=True with exactly mmengine's types ---------------------------------


def test_real_checkpoint_holds_message_hub_types_and_loads_through_mmengine(trained):
    checkpoint = trained[0] / "epoch_1.pth"
    unsafe = set(torch.serialization.get_unsafe_globals_in_checkpoint(str(checkpoint)))
    assert "mmengine.logging.history_buffer.HistoryBuffer" in unsafe and "numpy.ndarray" in unsafe
    loaded = CheckpointLoader.load_checkpoint(str(checkpoint), map_location="cpu")
    buffers = loaded["message_hub"]["log_scalars"]
    assert isinstance(buffers["train/loss"], HistoryBuffer) and len(buffers["train/loss"].data[0]) == 2
    assert isinstance(loaded["message_hub"]["runtime_info"]["eta"], np.floating)
    assert buffers["train/loss"].statistics("mean") == pytest.approx(buffers["train/loss"].data[0].mean())


def test_resume_restores_message_hub_and_load_from_restores_weights(trained, tmp_path):
    work_dir, ann_file = trained
    saved = torch.load(work_dir / "epoch_1.pth", weights_only=False)
    seen: dict = {}

    def before_train(runner) -> None:
        seen["iter"] = runner.iter
        history = runner.message_hub.log_scalars.get("train/loss")
        seen["loss_history"] = None if history is None else history.data[0].copy()
        seen["weights"] = {k: v.clone() for k, v in runner.model.state_dict().items()}

    def run(**options) -> Runner:
        runner = Runner.from_cfg(tiny_config(MMSELFSUP_CPU_NDA, options.pop("work"), ann_file, max_epochs=2, **options))
        hook = Hook()
        hook.before_train = before_train
        runner.register_hook(hook, priority="LOWEST")
        runner.train()
        return runner

    run(work=tmp_path / "resumed", resume=True, load_from=str(work_dir / "epoch_1.pth"))
    assert seen["iter"] == 2
    np.testing.assert_allclose(seen["loss_history"], saved["message_hub"]["log_scalars"]["train/loss"].data[0])

    run(work=tmp_path / "loaded", load_from=str(work_dir / "epoch_1.pth"))
    assert seen["iter"] == 0 and seen["loss_history"] is None  # load_from: weights only, training starts over
    for name, value in saved["state_dict"].items():
        torch.testing.assert_close(seen["weights"][name], value)


@pytest.mark.parametrize("payload", ["exec", "getattr"])
def test_code_running_checkpoint_is_refused_and_the_payload_does_not_run(tmp_path, payload):
    marker = tmp_path / "payload_ran"
    evil = tmp_path / "evil.pth"
    torch.save(
        {"state_dict": {}, "meta": {"x": RunsCode(marker) if payload == "exec" else ReachesThroughGetattr()}}, evil
    )
    with pytest.raises(pickle.UnpicklingError) as error:
        CheckpointLoader.load_checkpoint(str(evil), map_location="cpu")
    message = str(error.value)
    assert str(evil) in message and (
        "GLOBAL exec was not an allowed global" in message or "asks for getattr" in message
    )
    assert "weights_only=True" in message and "can run code" in message
    assert f"{TRUST_ENV_VAR}=1" in message and "add_safe_globals" in message
    assert not marker.exists()


def test_runner_load_from_refuses_a_code_running_checkpoint(trained, tmp_path):
    marker = tmp_path / "payload_ran"
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "meta": {"payload": RunsCode(marker)}}, evil)
    runner = Runner.from_cfg(tiny_config(MMSELFSUP_CPU_NDA, tmp_path / "work", trained[1], load_from=str(evil)))
    with pytest.raises(pickle.UnpicklingError, match="nda-plugins refused to load checkpoint"):
        runner.train()
    assert not marker.exists()


def test_a_trusted_old_checkpoint_loads_on_purpose(tmp_path, monkeypatch):
    """A harmless type mmengine does not write: refused, then loaded by the two ways the error names."""
    path = tmp_path / "trusted.pth"
    torch.save({"state_dict": {}, "meta": {"ratio": Fraction(1, 3)}}, path)
    with pytest.raises(pickle.UnpicklingError, match="fractions.Fraction"):
        CheckpointLoader.load_checkpoint(str(path), map_location="cpu")
    with torch.serialization.safe_globals([Fraction]):
        assert CheckpointLoader.load_checkpoint(str(path), map_location="cpu")["meta"]["ratio"] == Fraction(1, 3)
    monkeypatch.setenv(TRUST_ENV_VAR, "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that it unpickles everything, as it should
        assert CheckpointLoader.load_checkpoint(str(path), map_location="cpu")["meta"]["ratio"] == Fraction(1, 3)


def test_without_the_workaround_mmengine_cannot_read_its_own_checkpoints(fresh_processes):
    """The gate is real: torch 2.6+ with stock mmengine refuses HistoryBuffer (and evil files too)."""
    result = fresh_processes["stock loading"]
    assert "REFUSED True" in result.stdout, result.stdout + result.stderr


# --- workarounds: gated on the symptom, logged once, switched off ----------------------------------


def test_needed_workarounds_are_applied_once_and_logged_once_through_mmengine(fresh_processes):
    result = fresh_processes["default"]
    report = _report(result)
    assert report["applied"] == list(WORKAROUNDS) and report["again"] == []
    assert not any(report["needed"].values())  # every symptom is gone once applied
    log = result.stdout + result.stderr
    assert log.count("nda-plugins applied 4 workaround(s)") == 1
    assert "- mmengine - INFO - nda-plugins applied" in log  # mmengine's logger format
    assert all(f"  - {name}: " in log for name in WORKAROUNDS) and "NDA_WORKAROUNDS=off" in log


def test_nda_workarounds_off_applies_none_and_says_so(fresh_processes):
    result = fresh_processes["off"]
    report = _report(result)
    assert report["applied"] == [] and all(report["needed"].values())  # every upstream symptom is there
    assert "NDA_WORKAROUNDS=off, not applying workarounds" in result.stdout + result.stderr


def test_a_workaround_is_not_applied_where_the_symptom_is_absent_or_switched_off(fresh_processes):
    """mmcv's hue already fixed, torch told to trust checkpoints, one workaround left out by name."""
    assert _report(fresh_processes["absent"])["applied"] == ["mmselfsup-registry-locations"]


def test_negative_hue_jitter_works_under_numpy_2():
    import mmcv

    image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    for backend in ("cv2", "pillow"):
        shifted = mmcv.adjust_hue(image, -0.1, backend=backend)
        back = mmcv.adjust_hue(shifted, 0.1, backend=backend)
        assert shifted.shape == image.shape and np.abs(shifted.astype(int) - image).mean() > 5
        assert np.abs(back.astype(int) - image).mean() < 3  # -0.1 then +0.1 is (almost) the identity


def test_cross_package_collate_scope_builds_a_dataloader():
    from mmengine.config import Config

    cfg = Config.fromfile(
        str(ROOT / "plugins/mmselfsup/imagenet100/nda-mocov2-jigsaw_resnet50_8xb16-coslr-200e_in100.py")
    )
    collate_fn = cfg.train_dataloader.collate_fn
    assert collate_fn.get("_scope_") == "mmselfsup"  # inherited across packages: the bug's trigger
    loader = Runner.build_dataloader(
        dict(
            dataset=[0, 1, 2, 3],
            sampler=dict(type="DefaultSampler", shuffle=False),
            batch_size=2,
            collate_fn=collate_fn,
        )
    )
    assert [batch.tolist() for batch in loader] == [[0, 1], [2, 3]]


# --- registrations ----------------------------------------------------------------------------------


def test_registered_into_both_frameworks():
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    from mmselfsup.registry import LOOPS, MODELS, TRANSFORMS

    assert MODELS.get("NDAMoCo") is mmselfsup_nda.NDAMoCo
    assert MODELS.get("NDAContrastiveHead") is NDAContrastiveHead
    assert MODELS.get("FeatureBatchNorm") is mmselfsup_nda.FeatureBatchNorm
    assert TRANSFORMS.get("NDAView") is NDAView
    assert PRETRAIN_MODELS.get("NDAMoCo").__module__ == "mmselfsup_nda.mmpretrain_models"
    # upstream open-mmlab/mmselfsup#745: the missing location is gone and loops resolve
    assert "mmselfsup.engine.runner" not in LOOPS._locations
    assert LOOPS.get("EpochBasedTrainLoop") is not None


def test_registering_over_a_component_that_is_not_ours_warns_and_names_it():
    class NDAViewOfSomeoneElse:
        pass

    registry = Registry("nda_test_transforms")
    registry.register_module(name="NDAView", module=NDAViewOfSomeoneElse)
    with pytest.warns(UserWarning, match="replaces .*test_registering_over.*NDAViewOfSomeoneElse"):
        register(registry, "NDAView", NDAView)
    assert registry.get("NDAView") is NDAView


def test_registering_our_own_component_again_is_silent():
    registry = Registry("nda_test_models")
    reloaded = type("NDAContrastiveHead", (), {"__module__": NDAContrastiveHead.__module__})  # as after a reload
    reloaded.__qualname__ = NDAContrastiveHead.__qualname__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        register(registry, "NDAContrastiveHead", NDAContrastiveHead)
        register(registry, "NDAContrastiveHead", NDAContrastiveHead)
        register(registry, "NDAContrastiveHead", reloaded)
    assert registry.get("NDAContrastiveHead") is reloaded


def test_reimporting_the_package_registers_silently(fresh_processes):
    result = fresh_processes["reimport"]
    assert "NDA WARNINGS []" in result.stdout, result.stdout + result.stderr
