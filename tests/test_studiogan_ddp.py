"""StudioGAN's own ``-DDP`` through the launcher on 2 CPU ranks (gloo, ``--cpu -DDP``): every rank
adds the NDA term for its own batch with its own draws, rank 0 checkpoints, and ``-ckpt`` resumes.

StudioGAN spawns its ranks itself (``torch.multiprocessing.spawn`` from its ``main.py``), so the
test sees inside them through a ``sitecustomize`` module on ``PYTHONPATH`` (loaded by every Python
process of the run): it records, per rank, each call of the NDA discriminator objective.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from studiogan_helpers import BATCH, CPU_NDA, ROOT, studiogan_data, studiogan_root, write_yaml  # noqa: F401 - fixtures

from nda_core.errors import EXIT_USAGE

RANKS = 2
STEP_LINE = "Step: {:>6} "
RECORD_ENV = "NDA_TEST_RECORD"
JIGSAW_TILES = 2  # the CPU config's jigsaw k
PROBE_SHAPE = (4, 3, 32, 32)  # an identical input that every rank transforms with its own RNG state

RECORDER = textwrap.dedent(
    f"""
    # Test hook (tests/test_studiogan_ddp.py): records every NDA D-loss call of this process.
    import os

    if os.environ.get("{RECORD_ENV}"):
        import torch
        import torch.distributed as dist
        from studiogan_nda import objective

        _call = objective.NDADiscriminatorObjective.__call__
        _calls = [0]

        def __call__(self, d_logit_real, d_logit_fake, DDP=False):
            loss = _call(self, d_logit_real, d_logit_fake, DDP=DDP)
            record = {{name: value.detach().clone() for name, value in self.last_batch.items()}}
            record["rank"] = dist.get_rank() if dist.is_initialized() else -1
            record["world_size"] = dist.get_world_size() if dist.is_initialized() else 1
            record["ddp_flag"] = DDP
            with torch.random.fork_rng(devices=[]):  # the draw this rank would make, without advancing its RNG
                probe = torch.linspace(-1, 1, {math.prod(PROBE_SHAPE)}).reshape{PROBE_SHAPE}
                record["probe_nda"] = self.transform(probe)
            name = "rank{{}}-call{{}}.pt".format(record["rank"], _calls[0])
            torch.save(record, os.path.join(os.environ["{RECORD_ENV}"], name))
            _calls[0] += 1
            return loss

        objective.NDADiscriminatorObjective.__call__ = __call__
    """
)


def launch(root: Path, *args: str, cwd: Path, record: Path, hook: Path) -> subprocess.CompletedProcess:
    env = {
        k: v for k, v in os.environ.items() if k not in ("STUDIOGAN_ROOT", "WANDB_MODE", "MASTER_ADDR", "MASTER_PORT")
    }
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(hook), str(ROOT)]), **{RECORD_ENV: str(record)})
    record.mkdir()
    command = [sys.executable, "-m", "studiogan_nda", "--cpu", "--studiogan-root", str(root), *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def records(folder: Path) -> dict[int, list[dict]]:
    by_rank: dict[int, list[dict]] = {}
    for path in sorted(folder.glob("rank*-call*.pt"), key=lambda p: int(p.stem.split("call")[1])):
        record = torch.load(path, weights_only=True)
        by_rank.setdefault(record["rank"], []).append(record)
    return by_rank


def tiles(images: torch.Tensor, k: int = JIGSAW_TILES) -> torch.Tensor:
    """(B, k*k, C*h*w) the k x k tiles of every image, sorted so that a permutation of tiles compares equal."""
    b, c, h, w = images.shape
    grid = images.reshape(b, c, k, h // k, k, w // k).permute(0, 2, 4, 1, 3, 5).reshape(b, k * k, -1)
    order = torch.argsort(grid.sum(-1), dim=1)
    return torch.gather(grid, 1, order.unsqueeze(-1).expand_as(grid))


@pytest.fixture(scope="module")
def ddp_runs(studiogan_root, studiogan_data, tmp_path_factory):
    """2 NDA steps on 2 CPU ranks (StudioGAN saves step 2), then resumed with -ckpt for one more step (3)."""
    work = tmp_path_factory.mktemp("ddp")
    hook = work / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(RECORDER)
    common = [
        "-t",
        "-DDP",
        "-data",
        str(studiogan_data),
        "-save",
        str(work / "save"),
        "--seed",
        "0",
        "--print_freq",
        "1",
        "--save_freq",
        "2",
    ]
    first = write_yaml(
        work / "nda-ddp.yaml", CPU_NDA, OPTIMIZATION={"batch_size": BATCH, "d_updates_per_step": 1, "total_steps": 1}
    )
    run1 = launch(studiogan_root, "-cfg", str(first), *common, cwd=work, record=work / "record1", hook=hook)
    assert run1.returncode == 0, run1.stdout[-3000:] + run1.stderr[-3000:]
    checkpoints = next((work / "save" / "checkpoints").iterdir())
    saved_first = sorted(p.name for p in checkpoints.iterdir())
    log_first = next((work / "save" / "logs").iterdir()).read_text()
    second = write_yaml(work / "nda-ddp-2.yaml", first, OPTIMIZATION={"total_steps": 2})
    run2 = launch(
        studiogan_root,
        "-cfg",
        str(second),
        *common,
        "-ckpt",
        str(checkpoints),
        cwd=work,
        record=work / "record2",
        hook=hook,
    )
    assert run2.returncode == 0, run2.stdout[-3000:] + run2.stderr[-3000:]
    return {
        "first": run1,
        "second": run2,
        "saved_first": saved_first,
        "checkpoints": checkpoints,
        "log_first": log_first,
        "log": next((work / "save" / "logs").iterdir()).read_text(),
        "records1": records(work / "record1"),
        "records2": records(work / "record2"),
    }


def test_two_gloo_ranks_each_add_the_nda_term_of_their_own_batch(ddp_runs):
    run, by_rank = ddp_runs["first"], ddp_runs["records1"]
    for name in ("cuda-set-device-on-cpu", "ddp-device-ids-on-cpu", "spawns 2 CPU ranks (--cpu-ranks) talking gloo"):
        assert name in run.stderr  # honest, logged workarounds
    assert "Train the models through DistributedDataParallel (DDP) mode." in run.stdout  # StudioGAN's own spawn
    assert sorted(by_rank) == [0, 1]  # both spawned ranks ran the NDA objective in a 2-rank gloo group
    local = BATCH // RANKS  # StudioGAN splits the batch over the ranks
    for rank, calls in by_rank.items():
        assert len(calls) == 2, rank  # steps 0 and 1, one D update each
        for call in calls:
            assert call["world_size"] == RANKS and call["ddp_flag"] is True
            real, nda = call["real_images"], call["nda_images"]
            # the NDA term uses this rank's local batch only: D(NDA(x)) has the local batch size, not a gathered one
            assert real.shape[0] == nda.shape[0] == call["d_logit_nda"].reshape(-1).shape[0] == local
            # NDA(x) is a jigsaw of exactly this rank's real images, sample by sample, and never the identity
            torch.testing.assert_close(tiles(nda), tiles(real), rtol=0, atol=0)
            assert all(not torch.equal(a, b) for a, b in zip(nda, real))
    for step in range(2):
        real0, real1 = by_rank[0][step]["real_images"], by_rank[1][step]["real_images"]
        # DistributedSampler: the ranks hold different images, and no rank's NDA is a jigsaw of the other's batch
        assert not torch.equal(tiles(real0), tiles(real1))
        assert not torch.equal(tiles(by_rank[0][step]["nda_images"]), tiles(real1))
    # identical input, different draws: StudioGAN seeds every rank with seed + rank, and the NDA draws from it
    assert not torch.equal(by_rank[0][0]["probe_nda"], by_rank[1][0]["probe_nda"])


def test_rank_zero_checkpoints_and_ckpt_resumes_on_two_ranks(ddp_runs):
    assert ddp_runs["saved_first"] == ["model=D-current-weights-step=2.pth", "model=G-current-weights-step=2.pth"]
    assert "NDA: Step:      2" in ddp_runs["log_first"]
    resumed = ddp_runs["log"][len(ddp_runs["log_first"]) :]
    assert "Discriminator checkpoint is" in resumed and "step=2.pth" in resumed
    assert STEP_LINE.format(3) in resumed and STEP_LINE.format(2) not in resumed  # continued, not restarted
    assert "NDA: Step:      3" in resumed
    assert sorted(p.name for p in ddp_runs["checkpoints"].iterdir()) == [
        "model=D-current-weights-step=3.pth",
        "model=G-current-weights-step=3.pth",
    ]
    by_rank = ddp_runs["records2"]
    assert sorted(by_rank) == [0, 1] and all(len(calls) == 1 for calls in by_rank.values())  # the one resumed step


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--cpu-ranks", "1"], "--cpu-ranks must be >= 2, got 1. -DDP needs 2 or more ranks"),
        (["--backend", "nccl"], "--backend nccl needs CUDA GPUs; --cpu -DDP runs on the CPU with --backend gloo"),
        (["-tn", "2"], "-tn 2: --cpu -DDP runs all 2 ranks on this machine"),
    ],
)
def test_cpu_ddp_usage_errors_name_the_fix(studiogan_root, studiogan_data, capsys, monkeypatch, options, message):
    from studiogan_nda import cli

    monkeypatch.delenv("STUDIOGAN_ROOT", raising=False)
    launcher = [o for o in options if o in ("--cpu-ranks", "1")]
    studiogan = [o for o in options if o not in launcher]
    code = cli.main(
        [
            "--cpu",
            *launcher,
            "--studiogan-root",
            str(studiogan_root),
            "-t",
            "-DDP",
            "-cfg",
            str(CPU_NDA),
            "-data",
            str(studiogan_data),
            *studiogan,
        ]
    )
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and err.startswith("python -m studiogan_nda: error: ") and message in err


def test_cpu_ranks_without_cpu_is_a_usage_error(capsys):
    from studiogan_nda import cli

    assert cli.main(["--cpu-ranks", "4", "-t", "-DDP"]) == EXIT_USAGE
    assert "--cpu-ranks 4 applies to --cpu -DDP only" in capsys.readouterr().err
