"""The public NDA registry: a user's own NDA, registered with ``@nda_core.register``, is built by
name through ``nda_core.build``, adapters' config paths and ``nda list``; overwrites warn, bad
names and classes are refused with the fix."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import nda_core
from nda_core import transforms
from nda_core.cli import main as nda_main

ROOT = Path(__file__).resolve().parents[1]
SUBPROCESS_TIMEOUT_S = 120
USER_NDA = "inv_quadrant"
QUADRANTS = 4
BATCH = 6


@pytest.fixture(autouse=True)
def _own_registry(monkeypatch):
    """Each test registers into a copy of the registry, so nothing leaks into other tests."""
    monkeypatch.setattr(transforms, "_REGISTRY", dict(transforms._REGISTRY))
    monkeypatch.setattr(transforms, "_plugins_loaded", transforms._plugins_loaded)


def _define_user_nda() -> type:
    """A user's NDA, as a user's module defines it (calling this again is like re-importing it)."""

    @nda_core.register(USER_NDA)
    class InvertQuadrant(nda_core.NDATransform):
        """Invert one randomly drawn quadrant of every image."""

        def draw_params(self, shape, generator=None, self_index=None, source_size=None, device=None):
            device = generator.device if generator is not None else device
            return {"quadrant": torch.randint(0, QUADRANTS, (shape[0],), generator=generator, device=device)}

        def replay(self, x, params, source=None):
            quadrant = params["quadrant"].to(x.device)
            height, width = x.shape[-2:]
            bottom = (torch.arange(height, device=x.device) >= height // 2)[None, :, None] == (quadrant // 2)[
                :, None, None
            ].bool()
            right = (torch.arange(width, device=x.device) >= width // 2)[None, None, :] == (quadrant % 2)[
                :, None, None
            ].bool()
            mask = (bottom & right)[:, None]  # (B, 1, H, W)
            top = 255 if x.dtype == torch.uint8 else 1
            return torch.where(mask, top - x, x)

    return InvertQuadrant


def _inverted_quadrants(before: torch.Tensor, after: torch.Tensor, top: float) -> list[list[int]]:
    """Per image, the quadrants whose every pixel is ``top - before`` (the rest must be unchanged)."""
    h, w = before.shape[-2] // 2, before.shape[-1] // 2
    found = []
    for image_before, image_after in zip(before, after):
        quadrants = []
        for q in range(QUADRANTS):
            rows, cols = slice((q // 2) * h, (q // 2 + 1) * h), slice((q % 2) * w, (q % 2 + 1) * w)
            b, a = image_before[..., rows, cols].double(), image_after[..., rows, cols].double()
            if torch.allclose(a, top - b):
                quadrants.append(q)
            else:
                assert torch.equal(a, b), f"quadrant {q} is neither unchanged nor inverted"
        found.append(quadrants)
    return found


def test_a_user_nda_is_built_by_name_and_draws_per_sample_params():
    cls = _define_user_nda()
    assert USER_NDA in nda_core.available() and nda_core.registered()[USER_NDA] is cls and cls.name == USER_NDA
    for spec in (USER_NDA, {"type": USER_NDA}):
        assert type(nda_core.build(spec)) is cls
    x = torch.rand(BATCH, 3, 8, 8)
    out, params = nda_core.build(USER_NDA)(x, generator=torch.Generator().manual_seed(0), return_params=True)
    assert _inverted_quadrants(x, out, 1.0) == [[q] for q in params["quadrant"].tolist()]
    assert len(set(params["quadrant"].tolist())) > 1  # drawn per sample, not once per batch
    # it composes with the built-ins by name
    mixture = nda_core.build({"type": "mixture", "transforms": [USER_NDA, "vflip"], "weights": [1, 0]})
    assert type(mixture.transforms[0]) is cls and mixture.config()["transforms"][0] == {"type": USER_NDA}
    with pytest.raises(ValueError, match=f"unknown NDA 'inv_quadrnt'; known NDAs: .*'{USER_NDA}'"):
        nda_core.build_entry("inv_quadrnt", "model nda")


def test_a_user_nda_goes_through_lightly_nda_embeddings():
    pytest.importorskip("lightly")
    from lightly_nda.transforms import nda_embeddings

    cls = _define_user_nda()
    x_query, x_key = torch.rand(BATCH, 3, 8, 8), torch.rand(BATCH, 3, 8, 8)
    got = nda_embeddings(
        lambda images: images.flatten(1),
        x_query,
        x_key,
        nda={"type": USER_NDA},
        num_views=2,
        generator=torch.Generator().manual_seed(1),
    )
    mine, generator = cls(), torch.Generator().manual_seed(1)
    expected = torch.stack(
        [mine(x_query, generator=generator).flatten(1), mine(x_key, generator=generator).flatten(1)], 1
    )
    torch.testing.assert_close(got, expected)  # (B, 2, D): the user's NDA of each sample's query and key view


def test_a_user_nda_goes_through_an_mmselfsup_pipeline_config():
    pytest.importorskip("mmselfsup")
    from mmselfsup.registry import TRANSFORMS

    import mmselfsup_nda  # noqa: F401 - registers NDAView

    cls = _define_user_nda()
    view = TRANSFORMS.build(dict(type="NDAView", nda=dict(type=USER_NDA)))
    assert type(view.nda) is cls
    image = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    out = view.transform({"img": image.copy()})["img"]
    before, after = (torch.from_numpy(a).permute(2, 0, 1)[None] for a in (image, out))
    assert [len(q) for q in _inverted_quadrants(before, after, 255)] == [1]


def test_nda_list_shows_a_user_nda_even_without_a_docstring(capsys):
    _define_user_nda()

    @nda_core.register("undocumented")
    class Undocumented(nda_core.NDATransform):
        def draw_params(self, shape, generator=None, self_index=None, source_size=None, device=None):
            return {}

        def replay(self, x, params, source=None):
            return x

    assert nda_main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"{USER_NDA:14s} Invert one randomly drawn quadrant of every image." in lines
    assert "undocumented" in [line.strip() for line in lines]
    assert [line.split()[0] for line in lines] == nda_core.available()


def test_registering_the_same_class_again_is_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = _define_user_nda()
        again = _define_user_nda()  # as an importlib.reload of the user's module makes it
        nda_core.register(USER_NDA)(again)
    assert nda_core.registered()[USER_NDA] is again and first is not again


def test_registering_a_different_class_under_a_taken_name_warns_and_names_both():
    _define_user_nda()

    class Jigsaw(transforms.Jigsaw):
        """Someone else's jigsaw."""

    with pytest.warns(
        UserWarning,
        match=r"test_core_registry\..*<locals>\.Jigsaw replaces nda_core\.transforms\.Jigsaw as NDA 'jigsaw'",
    ):
        nda_core.register("jigsaw")(Jigsaw)
    assert type(nda_core.build("jigsaw")) is Jigsaw

    class Other(transforms.VFlip):
        pass

    with pytest.warns(
        UserWarning, match=r"Other replaces .*_define_user_nda\.<locals>\.InvertQuadrant as NDA 'inv_quadrant'"
    ):
        nda_core.register(USER_NDA)(Other)


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("", ValueError, "register got name=''; an NDA name is a string"),
        ("two words", ValueError, "register got name='two words'.*e.g. 'my_jigsaw'"),
        (3, TypeError, "register got name=3; an NDA name is a string"),
    ],
)
def test_bad_names_are_refused_with_the_fix(name, error, message):
    with pytest.raises(error, match=message):
        nda_core.register(name)


def test_bad_classes_are_refused_with_the_fix():
    with pytest.raises(
        TypeError, match=r"got the class VFlip as name=; call the decorator: write @nda_core.register\('vflip'\)"
    ):
        nda_core.register(transforms.VFlip)  # @nda_core.register without the call
    with pytest.raises(TypeError, match="not an NDATransform subclass; subclass nda_core.NDATransform"):
        nda_core.register("plain")(torch.nn.Identity)
    with pytest.raises(TypeError, match=r"NoReplay does not implement \['replay'\]"):

        @nda_core.register("no_replay")
        class NoReplay(nda_core.NDATransform):
            def draw_params(self, shape, generator=None, self_index=None, source_size=None, device=None):
                return {}

    with pytest.raises(ValueError, match="Jigsaw, whose name is 'jigsaw'; use one name"):
        nda_core.register("jig")(transforms.Jigsaw)
    with pytest.raises(ValueError, match="has no name; pass one"):
        nda_core.register()(type("Nameless", (transforms.VFlip,), {"name": ""}))
    assert "no_replay" not in nda_core.available() and "jig" not in nda_core.available()


def test_an_installed_package_declares_its_nda_for_every_process(tmp_path):
    """``nda.transforms`` entry points: a fresh process (``nda list``, build by name) knows the
    package's NDA without importing it; a declared NDA that does not import is left out with a warning."""
    (tmp_path / "nda_user_plugin.py").write_text(
        textwrap.dedent('''
        import torch

        import nda_core

        class Checkers(nda_core.NDATransform):
            """Zero every other pixel of every image."""

            def draw_params(self, shape, generator=None, self_index=None, source_size=None, device=None):
                return {}

            def replay(self, x, params, source=None):
                rows, cols = torch.meshgrid(torch.arange(x.shape[-2]), torch.arange(x.shape[-1]), indexing="ij")
                return x * ((rows + cols) % 2).to(x.device, x.dtype)
    ''')
    )
    info = tmp_path / "nda_user_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nda-user-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[nda.transforms]\ncheckers = nda_user_plugin:Checkers\nbroken = nda_user_plugin_missing:Nope\n"
    )
    code = (
        "from nda_core.cli import main\n"
        "main(['list'])\n"
        "import nda_core\n"
        "print('BUILT', type(nda_core.build({'type': 'checkers'})).__module__)\n"
    )
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"{'checkers':14s} Zero every other pixel of every image." in lines
    assert "BUILT nda_user_plugin" in lines and "broken" not in [line.split()[0] for line in lines]
    assert "leaving out the NDA 'broken'" in result.stderr and "nda_user_plugin_missing" in result.stderr
