# CIFAR-10: where it lives and its statistics, the one place every CIFAR-10 config reads them
# (mmselfsup and mmpretrain, pre-training and linear evaluation).
#
# The root is nda_core.data.cifar10_root(): $NDA_CIFAR10_ROOT, else the image-folder tree
# (train/<class>/*, test/<class>/*) that `nda data cifar10` prepares in the cache folder
# ($NDA_CACHE, $XDG_CACHE_HOME/nda-plugins or ~/.cache/nda-plugins, then cifar10-jpeg). On
# first use it is prepared from the offline archive when that exists; otherwise loading the
# config stops at once with one line that says to run `nda data cifar10 --from PATH`.
_base_ = []  # a plain mmengine config (one without `_base_` and with an import would be read as lazy)
from nda_core.data import cifar10_root  # noqa: E402

try:
    _root = str(cifar10_root())
except ValueError as _error:  # not prepared: a one-line message instead of a traceback from deep in mmengine
    raise SystemExit(f'nda-plugins: {_error}') from None

cifar10 = dict(
    data_root=_root,
    mean=(125.307, 122.961, 113.8575),  # RGB, 0-255
    std=(51.5865, 50.847, 51.255),
    num_classes=10)
