"""Write the CIFAR-10 subset lists used by the CPU configs (mmcls ``CustomDataset`` ann files).

Each line is ``<class>/<file> <label>`` relative to ``train/`` or ``test/`` of the CIFAR-10
image-folder tree (``nda_core.data.cifar10_root()``). The first ``per_class`` files of every
class (sorted by name) are taken, so the lists are the same on every machine.

    python plugins/mmselfsup/data/make_cifar10_subsets.py
"""

from __future__ import annotations

from pathlib import Path

from nda_core.data import cifar10_root
from mmselfsup_nda.data import write_ann_file

#: (split, images per class, output name)
SUBSETS = (("train", 50, "cifar10_train_500.txt"), ("test", 20, "cifar10_test_200.txt"))


def main() -> None:
    root = cifar10_root()
    for split, per_class, name in SUBSETS:
        out = write_ann_file(root / split, per_class, Path(__file__).with_name(name))
        print(f"{name}: {len(out.read_text().splitlines())} images of {root / split}")


if __name__ == "__main__":
    main()
