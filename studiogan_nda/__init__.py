"""studiogan_nda: NDA-GAN (Sinha et al., ICLR 2021) inside an unmodified PyTorch-StudioGAN.

Add to the LOSS section of a StudioGAN YAML::

    LOSS:
      adv_loss: "hinge"
      apply_nda: True
      nda_lambda: 0.25
      nda: {type: jigsaw, k: 2}

and run StudioGAN's own command line through the launcher::

    python -m studiogan_nda --studiogan-root PATH -t -cfg CFG.yaml -data DATA -save SAVE

D then minimises ``L_real + lam * L_fake(D(G(z))) + (1 - lam) * L_fake(D(NDA(x)))``
(``nda_core.losses``), the generator step is unchanged, and ``apply_nda: False`` is StudioGAN's
own behaviour bit for bit. Parts:

* :mod:`studiogan_nda.checkout` finds the StudioGAN checkout and puts its ``src/`` on ``sys.path``;
* :mod:`studiogan_nda.hooks` registers the keys and the objective into StudioGAN's classes;
* :mod:`studiogan_nda.objective` is the NDA discriminator objective of one ``WORKER``;
* :mod:`studiogan_nda.workarounds` holds the gated, switchable outside measures (CPU mode, wandb);
* :mod:`studiogan_nda.cli` is the launcher, :mod:`studiogan_nda.anomaly` the anomaly detection,
  :mod:`studiogan_nda.corruptions` the CIFAR-10-C style corruptions;
* :mod:`studiogan_nda.build` builds StudioGAN's ``WORKER`` in-process (tests, benchmarks).

StudioGAN is not on PyPI: clone POSTECH-CVLab/PyTorch-StudioGAN and pass ``--studiogan-root``
(or set ``STUDIOGAN_ROOT``); its Python dependencies come with
``pip install 'nda-plugins[studiogan]'``. Importing this package does not import StudioGAN.
"""

from __future__ import annotations

INSTALL_HINT = "pip install 'nda-plugins[studiogan]'"

try:
    import yaml  # noqa: F401 - StudioGAN's configs are YAML
except ImportError as _error:  # pragma: no cover - depends on the environment
    raise ImportError(f"studiogan_nda needs PyYAML and StudioGAN's dependencies: {INSTALL_HINT} ({_error})") from _error

from studiogan_nda.settings import ADV_LOSS_KINDS, NDA_KEYS, NDASettings, check_nda_settings, read_yaml  # noqa: E402

__all__ = ["ADV_LOSS_KINDS", "INSTALL_HINT", "NDA_KEYS", "NDASettings", "check_nda_settings", "read_yaml"]
