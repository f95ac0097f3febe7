"""``upstream/studiogan``: the PyTorch-StudioGAN pull requests apply to the vendored 947b35e and equal studiogan_nda.

* The three fixes (0001-0003) each apply alone to the vendored snapshot; the whole series applies.
* The series' own new tests (``tests/`` of the StudioGAN repository) pass on the patched copy.
* ``src/utils/nda.py`` of the patch computes nda_core's NDA images from the same parameters, and
  its jigsaw (k=2, the default) draws them from the same random stream.
* StudioGAN's real ``WORKER.train_discriminator`` with ``LOSS.apply_nda`` (patched copy) equals
  unpatched StudioGAN with studiogan_nda's hooks for every adversarial loss and two values of
  ``nda_lambda`` (D losses, NDA log values and D weights after 4 D updates on real CIFAR-10
  images), and with NDA off the patched StudioGAN equals the unpatched one bit for bit. Each side
  runs in its own process (StudioGAN's flat module names allow one copy per process).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from studiogan_helpers import (  # noqa: E402,F401 - fixtures
    CPU_NDA,
    CPU_PLAIN,
    studiogan_data,
    vendor_archive,
    write_yaml,
)
from upstream_helpers import (  # noqa: E402
    check_ok,
    git_apply,
    new_test_files,
    patch_series,
    run_pytest,
    run_pythons,
    touched_files,
)

PROJECT = "studiogan"
FIXES = 3  # 0001-0003: independent fixes, each its own pull request
ADV_LOSSES = ("vanilla", "logistic", "least_square", "hinge", "wasserstein")
LAMBDAS = (0.25, 0.5)
STEPS = 2  # train_discriminator calls; DCGAN makes 2 D updates in each
NDA_BATCH = 4  # images per D update: small, so that 11 runs per side take seconds
SEED = 3
CUTOUT_TOLERANCE = {"rtol": 1e-6, "atol": 1e-6}  # box means summed in another order


def _extract(dest: Path) -> Path:
    archive = vendor_archive()
    if not archive.is_file():
        pytest.fail(f"vendored StudioGAN sources missing: {archive} (see ../shared/vendor/README.md)")
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return dest / "PyTorch-StudioGAN"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return _extract(tmp_path_factory.mktemp("studiogan_pristine"))


@pytest.fixture(scope="module")
def patched(tmp_path_factory) -> Path:
    root = _extract(tmp_path_factory.mktemp("studiogan_patched"))
    git_apply(patch_series(PROJECT), root)
    return root


def _load_patched_nda(root: Path) -> ModuleType:
    """The patch's ``src/utils/nda.py`` under a private name (it imports only torch)."""
    spec = importlib.util.spec_from_file_location("studiogan_patched_utils_nda", root / "src" / "utils" / "nda.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_series_layout() -> None:
    patches = patch_series(PROJECT)
    assert len(patches) == 7
    touched = [set(touched_files(p)) for p in patches]
    assert touched[0] >= {"src/worker.py", "src/utils/misc.py"}  # wandb.Image
    assert touched[1] >= {"src/utils/ckpt.py"}  # load_best_model
    assert touched[2] >= {"src/worker.py", "src/utils/misc.py"}  # aa_p
    assert touched[3] >= {"src/utils/losses.py"}
    assert touched[4] >= {"src/utils/nda.py"}
    assert touched[5] >= {"src/config.py", "src/worker.py", "src/loader.py"}
    assert all(path.startswith("src/configs/") or path.startswith("tests/") for path in touched[6])
    assert all(new_test_files(patch) for patch in patches)  # every change brings its tests


@pytest.mark.parametrize("index", range(FIXES))
def test_each_fix_applies_alone(tmp_path: Path, index: int) -> None:
    git_apply([patch_series(PROJECT)[index]], _extract(tmp_path))


def test_upstream_tests_pass_on_patched_copy(patched: Path) -> None:
    tests = [test for patch in patch_series(PROJECT) for test in new_test_files(patch)]
    out = check_ok(run_pytest(tests, [], patched, "-W", "ignore::UserWarning"), "the pull requests' StudioGAN tests")
    assert " passed" in out and "failed" not in out


def test_nda_math_equals_nda_core(patched: Path) -> None:
    """Same parameters, same NDA images: the patch's functions against nda_core's."""
    import nda_core
    from nda_core import functional as F

    nda = _load_patched_nda(patched)
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(6, 3, 12, 12, generator=generator) * 2 - 1
    for k in (2, 3):
        params = nda_core.build({"type": "jigsaw", "k": k}).draw_params(x.shape, generator)
        assert torch.equal(nda.jigsaw(x, params["permutation"], k), F.jigsaw(x, params["permutation"], k))
    params = nda_core.build({"type": "stitch"}).draw_params(x.shape, generator)
    assert torch.equal(
        nda.stitch(x, params["partner"], params["vertical"], params["own_first"]),
        F.stitch(x, params["partner"], params["vertical"], params["own_first"]),
    )
    params = nda_core.build({"type": "cutout"}).draw_params(x.shape, generator)
    torch.testing.assert_close(nda.cutout(x, params["boxes"]), F.cutout(x, params["boxes"]), **CUTOUT_TOLERANCE)
    params = nda_core.build({"type": "cutmix"}).draw_params(x.shape, generator)
    assert torch.equal(
        nda.cutmix(x, params["partner"], params["boxes"]), F.cutmix(x, params["boxes"], params["partner"])
    )
    params = nda_core.build({"type": "mixup"}).draw_params(x.shape, generator)
    assert torch.equal(
        nda.mixup(x, params["partner"], params["weight"]), F.mixup(x, params["weight"], params["partner"])
    )


def test_nda_draws_match_nda_core(patched: Path) -> None:
    """jigsaw k=2 draws nda_core's permutations from the global RNG; boxes and partners have its ranges."""
    import nda_core

    nda = _load_patched_nda(patched)
    x = torch.rand(16, 3, 32, 32)
    for seed in range(3):
        torch.manual_seed(seed)
        ours = nda.NDA(type="jigsaw", k=2)(x)
        torch.manual_seed(seed)
        assert torch.equal(ours, nda_core.build({"type": "jigsaw", "k": 2})(x))
    torch.manual_seed(0)
    boxes = nda.sample_boxes(4000, 32, 32, "cpu")
    core_boxes = nda_core.build({"type": "cutout"}).draw_params((4000, 3, 32, 32), torch.Generator().manual_seed(0))[
        "boxes"
    ]
    for column in (2, 3):  # box sides: the same support [ceil(32/3), floor(32/2)]
        assert (boxes[:, column].min(), boxes[:, column].max()) == (
            core_boxes[:, column].min(),
            core_boxes[:, column].max(),
        )
    partners = nda.sample_partners(4000, "cpu")
    assert (partners != torch.arange(4000)).all()


def test_patched_worker_equals_plugin(patched: Path, pristine: Path, studiogan_data: Path, tmp_path: Path) -> None:
    """Patched StudioGAN's D step with apply_nda == studiogan_nda's; NDA off == unpatched StudioGAN."""
    runs = {"off": write_yaml(tmp_path / "off.yaml", CPU_PLAIN, OPTIMIZATION={"batch_size": NDA_BATCH})}
    for adv_loss in ADV_LOSSES:
        for lam in LAMBDAS:
            runs[f"{adv_loss}-{lam}"] = write_yaml(
                tmp_path / f"{adv_loss}-{lam}.yaml",
                CPU_NDA,
                OPTIMIZATION={"batch_size": NDA_BATCH},
                LOSS={"adv_loss": adv_loss, "nda_lambda": lam, "nda": {"type": "jigsaw", "k": 2}},
            )
    sides = {"plugin": pristine, "patched": patched}
    commands = []
    for side, root in sides.items():
        spec = {
            "root": str(root),
            "data": str(studiogan_data),
            "save": str(tmp_path / side),
            "runs": {name: str(path) for name, path in runs.items()},
            "out": str(tmp_path / f"{side}.pt"),
        }
        commands.append(([__file__, side, json.dumps(spec)], []))
    for side, result in zip(sides, run_pythons(commands, tmp_path)):
        check_ok(result, f"the {side} StudioGAN run")
    traces = {side: torch.load(tmp_path / f"{side}.pt", weights_only=True) for side in sides}
    assert set(traces["plugin"]) == set(traces["patched"]) == set(runs)
    for name in runs:
        plugin, patched_trace = traces["plugin"][name], traces["patched"][name]
        assert plugin.keys() == patched_trace.keys(), name
        for key in plugin:
            assert torch.equal(plugin[key], patched_trace[key]), f"{name}: {key} differs"
    # the runs differ from each other, so the comparison above could fail
    assert not torch.equal(traces["patched"]["hinge-0.25"]["d_loss_0"], traces["patched"]["hinge-0.5"]["d_loss_0"])
    assert "nda_loss_0" in traces["patched"]["hinge-0.25"] and "nda_loss_0" not in traces["patched"]["off"]


# ----------------------------------------------------------------------------------- child process
def _run_side(side: str, spec: dict) -> None:
    """Build StudioGAN's WORKER for every run and record its D losses, NDA values and D weights."""
    os.environ["WANDB_MODE"] = "disabled"
    torch.set_num_threads(1)
    from studiogan_nda import checkout, hooks
    from studiogan_nda.build import build_worker

    checkout.add_to_path(spec["root"])
    results = {}
    for name, cfg in spec["runs"].items():
        nda_on = name != "off"
        if side == "plugin" and nda_on and not hooks.is_installed():
            hooks.install()  # the NDA-off run above was pure, unpatched StudioGAN
        worker = build_worker(cfg, spec["data"], Path(spec["save"]) / name, seed=SEED)
        trace = {}
        for step in range(STEPS):
            _, d_loss = worker.train_discriminator(current_step=step)
            trace[f"d_loss_{step}"] = d_loss.detach().clone()
            if nda_on and side == "plugin":
                values = worker.nda_objective.values()
                trace[f"nda_loss_{step}"] = torch.tensor(values["nda_loss"])
                trace[f"dis_real_minus_nda_{step}"] = torch.tensor(values["dis_real_minus_nda"])
            elif nda_on:
                trace[f"nda_loss_{step}"] = torch.tensor(worker.nda_loss.float().item())
                trace[f"dis_real_minus_nda_{step}"] = torch.tensor(worker.dis_real_minus_nda.float().item())
        trace.update({f"D.{key}": value.detach().clone() for key, value in worker.Dis.state_dict().items()})
        results[name] = trace
    torch.save(results, spec["out"])


if __name__ == "__main__":
    _run_side(sys.argv[1], json.loads(sys.argv[2]))
