"""studiogan_nda: NDA for PyTorch-StudioGAN (adapter to be filled by its own issue).

StudioGAN is not on PyPI: clone POSTECH-CVLab/PyTorch-StudioGAN and set STUDIOGAN_ROOT to it;
the package's own needs come with ``pip install 'nda-plugins[studiogan]'``.
"""
