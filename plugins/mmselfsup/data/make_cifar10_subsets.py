"""Write the CIFAR-10 subset lists used by the CPU configs (mmcls/mmpretrain ``CustomDataset`` ann files).

Each line is ``<class>/<file> <label>`` relative to ``train/`` or ``test/`` of the CIFAR-10
image-folder tree (``nda_core.data.cifar10_root()``). The first ``per_class`` files of every
class (sorted by name) are taken, so the lists are the same on every machine. The train list is
written into this folder and into ``plugins/mmpretrain/data/`` (each config tree is self-contained).

    python plugins/mmselfsup/data/make_cifar10_subsets.py
"""

from __future__ import annotations

from pathlib import Path

from mmselfsup_nda.data import write_ann_file
from nda_core.data import cifar10_root

#: (split, images per class, output name, config trees whose data/ folder gets the list)
SUBSETS = (
    ("train", 50, "cifar10_train_500.txt", ("mmselfsup", "mmpretrain")),
    ("test", 20, "cifar10_test_200.txt", ("mmselfsup",)),
)


def main() -> None:
    root = cifar10_root()
    plugins = Path(__file__).resolve().parents[2]
    for split, per_class, name, trees in SUBSETS:
        for tree in trees:
            out = write_ann_file(root / split, per_class, plugins / tree / "data" / name)
            print(f"{out}: {len(out.read_text().splitlines())} images of {root / split}")


if __name__ == "__main__":
    main()
