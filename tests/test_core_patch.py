"""nda_core.workarounds.patch: one patch per attribute, the exact original kept and put back, a
later patch by someone else never thrown away; each site of mmselfsup_nda and studiogan_nda gets
the framework's own function back on undo (and with it the upstream bug). The one numpy list of
weights_only loads reads numpy arrays, scalars and dtypes, written under numpy 2 or numpy 1."""

from __future__ import annotations

import io
import pickle
import types

import numpy as np
import pytest
import torch
from studiogan_helpers import studiogan, studiogan_root  # noqa: F401 - fixtures

from nda_core.workarounds import numpy_safe_globals, patch, patched


class Host:
    """A framework class with a plain, a static and a class method."""

    def method(self) -> str:
        return "method"

    @staticmethod
    def static() -> str:
        return "static"

    @classmethod
    def klass(cls) -> str:
        return "klass"


class Child(Host):
    """Inherits every method of Host."""


def _shout(original):
    return lambda *args: original(*args).upper()


# --- the helper -------------------------------------------------------------------------------------


def test_applying_twice_is_one_patch():
    calls = []

    def wrap(original):
        calls.append(original)
        return lambda: original() + 1

    host = types.SimpleNamespace(answer=lambda: 41)
    first = patch(host, "answer", wrap)
    second = patch(host, "answer", wrap)
    assert second is first and len(calls) == 1 and host.answer() == 42  # not a wrapper of a wrapper (43)
    assert patched(host, "answer") is first


REPLACEMENTS = {
    "method": lambda raw: lambda self: "patched",
    "static": lambda raw: staticmethod(lambda: "patched"),
    "klass": lambda raw: classmethod(lambda cls: "patched"),
}


@pytest.mark.parametrize("name", sorted(REPLACEMENTS))
def test_undo_restores_the_exact_original_object(name):
    original = vars(Host)[name]
    fix = patch(Host, name, REPLACEMENTS[name])
    try:
        assert fix.original is original  # the staticmethod / classmethod object itself, not the function
        assert getattr(Host(), name)() == "patched"
    finally:
        fix.undo()
    assert vars(Host)[name] is original and patched(Host, name) is None
    assert getattr(Host(), name)() == name  # still a working method of its kind
    fix.undo()  # undoing again does nothing


def test_undo_of_an_inherited_attribute_leaves_the_base_class_in_charge():
    fix = patch(Child, "static", lambda value: staticmethod(_shout(value)))
    assert Child.static() == "STATIC" and Host.static() == "static" and fix.inherited and fix.original() == "static"
    fix.undo()
    assert "static" not in vars(Child) and Child.static() == "static"


def test_undo_refuses_to_discard_a_later_patch_by_someone_else():
    """Chosen behaviour: a RuntimeError that says what happened and what to do; theirs stays."""
    host = types.SimpleNamespace(answer=lambda: 41)
    original = host.answer
    ours = patch(host, "answer", lambda o: lambda: o() + 1)

    def theirs():
        return 0

    host.answer = theirs
    assert patched(host, "answer") is None
    with pytest.raises(
        RuntimeError,
        match=r"cannot undo nda-plugins' patch of .*answer: it now holds .*theirs.*Undo that other patch first",
    ):
        ours.undo()
    assert host.answer is theirs
    host.answer = ours.replacement  # they undo theirs
    ours.undo()
    assert host.answer is original


def test_bad_arguments_are_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"there is no such attribute.*gate the workaround"):
        patch(Host, "missing", _shout)
    with pytest.raises(ValueError, match=r"needs attribute= an attribute name, got 3"):
        patch(Host, 3, _shout)
    with pytest.raises(TypeError, match=r"needs wrap= a function .*got str"):
        patch(Host, "method", "replacement")
    with pytest.raises(TypeError, match=r"needs owner= a module, class or object .* got int"):
        patch(3, "real", _shout)
    assert patched(Host, "method") is None


# --- numpy types in weights_only loads ------------------------------------------------------------


def _saved(obj, legacy: bool = False) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=not legacy)
    return buffer.getvalue()


def _load(data: bytes):
    with torch.serialization.safe_globals(numpy_safe_globals()):
        return torch.load(io.BytesIO(data), weights_only=True)


def test_numpy_arrays_scalars_and_dtypes_load_weights_only_under_numpy_2_and_1_names():
    state = {
        "p": np.float64(0.25),
        "n": np.int64(3),
        "hist": np.arange(6, dtype=np.float32).reshape(2, 3),
        "mask": np.array([True, False]),
        "kind": np.dtype("uint8"),
    }
    numpy2 = _saved(state, legacy=True)  # a plain pickle stream: its global names can be rewritten
    core = np.ndarray((0,)).__reduce__()[0].__module__.encode()  # numpy._core.multiarray under numpy 2
    numpy1 = numpy2.replace(core, b"numpy.core.multiarray")
    for data in (_saved(state), numpy2, numpy1):
        loaded = _load(data)
        assert loaded["p"] == 0.25 and loaded["n"] == 3 and loaded["kind"] == np.dtype("uint8")
        np.testing.assert_array_equal(loaded["hist"], state["hist"])
        np.testing.assert_array_equal(loaded["mask"], state["mask"])
    assert b"numpy.core.multiarray" in numpy1


def test_object_arrays_and_other_types_stay_refused():
    for payload in ({"objects": np.array([io.BytesIO], dtype=object)}, {"f": io.BytesIO}):
        with pytest.raises(pickle.UnpicklingError, match="weights_only"):
            _load(_saved(payload))


# --- each site: undo gives the framework's own function back (and its bug) --------------------------


@pytest.fixture
def mmselfsup_workarounds():
    pytest.importorskip("mmselfsup")
    import mmselfsup_nda  # noqa: F401 - applies the workarounds
    from mmselfsup_nda import _workarounds

    return _workarounds


def test_mmselfsup_collate_patch_undoes_to_mmengines_build_dataloader(mmselfsup_workarounds):
    from mmengine.runner import Runner

    W = mmselfsup_workarounds
    fix = W.strip_collate_scope()  # already applied at import: the same patch
    assert fix is patched(Runner, "build_dataloader") and not W.collate_scope_breaks_dataloaders()
    original = fix.original
    assert isinstance(original, staticmethod) and original.__func__.__module__ == "mmengine.runner.runner"
    fix.undo()
    try:
        assert vars(Runner)["build_dataloader"] is original and W.collate_scope_breaks_dataloaders()
    finally:
        W.strip_collate_scope()
    assert not W.collate_scope_breaks_dataloaders()


def test_mmselfsup_hue_patch_undoes_to_mmcvs_adjust_hue_everywhere(mmselfsup_workarounds):
    import mmcv
    import mmcv.image.photometric as photometric

    W = mmselfsup_workarounds
    fixes = W.fix_negative_hue_shift()
    assert len(fixes) == len({id(f) for f in fixes}) >= 2 and fixes[0] is patched(photometric, "adjust_hue")
    original = fixes[0].original
    assert original.__module__ == "mmcv.image.photometric" and all(f.original is original for f in fixes)
    assert mmcv.adjust_hue is fixes[0].replacement and not W.negative_hue_overflows()
    for fix in fixes:
        fix.undo()
    try:
        assert photometric.adjust_hue is original and mmcv.adjust_hue is original and W.negative_hue_overflows()
    finally:
        W.fix_negative_hue_shift()
    assert mmcv.adjust_hue is not original and not W.negative_hue_overflows()


def test_mmselfsup_checkpoint_patch_undoes_to_mmengines_loader(mmselfsup_workarounds):
    from mmengine.runner.checkpoint import CheckpointLoader, load_from_local

    from mmselfsup_nda.checkpoints import SafeCheckpointLoader, safe_checkpoint_loader

    W = mmselfsup_workarounds
    fix = W.load_checkpoints_with_mmengine_types()
    assert fix is patched(CheckpointLoader, "_schemes") and isinstance(
        CheckpointLoader._schemes[""], SafeCheckpointLoader
    )
    assert safe_checkpoint_loader(CheckpointLoader._schemes[""]) is CheckpointLoader._schemes[""]  # never wrapped twice
    assert list(CheckpointLoader._schemes) == list(fix.original)  # mmengine's order (longest prefix first) kept
    original = fix.original
    fix.undo()
    try:
        assert CheckpointLoader._schemes is original and original[""] is load_from_local
        assert W.mmengine_refuses_its_own_checkpoints()
    finally:
        W.load_checkpoints_with_mmengine_types()
    assert not W.mmengine_refuses_its_own_checkpoints()


def test_studiogan_wandb_patch_undoes_to_wandbs_image(monkeypatch):
    wandb = pytest.importorskip("wandb")
    from studiogan_nda import workarounds

    monkeypatch.setattr(wandb, "Image", wandb.Image)  # put back after the test, whatever happens
    original = wandb.Image
    fix = workarounds._wandb_accepts_batches()
    assert fix is workarounds._wandb_accepts_batches() and issubclass(wandb.Image, original)
    assert not workarounds._wandb_image_rejects_batches()
    fix.undo()
    assert wandb.Image is original and fix.original is original
    assert workarounds._wandb_image_rejects_batches()  # the installed wandb's own behaviour is back


def test_studiogan_best_checkpoint_patch_undoes_to_studiogans_loader(studiogan, tmp_path):
    import utils.ckpt as ckpt  # StudioGAN's

    from studiogan_nda import workarounds

    original = ckpt.load_best_model
    models = [torch.nn.Linear(1, 1) for _ in range(3)]
    fix = workarounds._keep_weights_without_best_checkpoint()
    try:
        assert fix is workarounds._keep_weights_without_best_checkpoint() and fix.original is original
        assert not workarounds._best_checkpoint_loader_unpatched()
        assert ckpt.load_best_model(str(tmp_path), models[0], models[1], False, models[2], None) == 0
    finally:
        fix.undo()
    assert ckpt.load_best_model is original and workarounds._best_checkpoint_loader_unpatched()
    with pytest.raises(IndexError):  # StudioGAN's own behaviour without a best checkpoint
        ckpt.load_best_model(str(tmp_path), models[0], models[1], False, models[2], None)


def test_studiogan_hooks_uninstall_to_studiogans_methods(studiogan):
    hooks = studiogan.hooks
    owners = [
        (studiogan.config.Configurations, name) for name in ("load_base_cfgs", "_overwrite_cfgs", "check_compatability")
    ]
    owners.append((studiogan.worker.WORKER, "__init__"))
    hooks.install()  # again: still one patch each
    fixes = [patched(cls, name) for cls, name in owners]
    assert all(fixes) and hooks.is_installed()
    originals = [fix.original for fix in fixes]
    assert [o.__module__ for o in originals] == ["config", "config", "config", "worker"]
    hooks.uninstall()
    assert [vars(cls)[name] for cls, name in owners] == originals and not hooks.is_installed()
    hooks.install()
    config = studiogan.config.Configurations
    ours = patched(config, "check_compatability")

    def theirs(self, *args, **kwargs):  # someone else's later patch
        return None

    config.check_compatability = theirs
    try:
        with pytest.raises(RuntimeError, match="cannot undo nda-plugins' patch of Configurations.check_compatability"):
            hooks.uninstall()
        assert vars(config)["check_compatability"] is theirs
    finally:
        config.check_compatability = ours.replacement  # they undo theirs
        hooks.uninstall()
        hooks.install()  # as the fixture left it
    assert [patched(cls, name).original for cls, name in owners] == originals
