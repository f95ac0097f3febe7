"""Write the CIFAR-10 subset lists used by the CPU configs (mmcls ``CustomDataset`` ann files).

Each line is ``<class>/<file> <label>`` relative to ``train/`` or ``test/`` of the CIFAR-10
image-folder tree (``nda_core.data.cifar10_root()``). The first ``per_class`` files of every
class (sorted by name) are taken, so the lists are the same on every machine.

    python plugins/mmselfsup/data/make_cifar10_subsets.py
"""

from __future__ import annotations

from pathlib import Path

from nda_core.data import IMAGE_SUFFIXES, cifar10_root

#: (split, images per class, output name)
SUBSETS = (("train", 50, "cifar10_train_500.txt"), ("test", 20, "cifar10_test_200.txt"))


def write_subset(root: Path, split: str, per_class: int, out: Path) -> int:
    """Write the list for ``split`` and return its number of lines."""
    classes = sorted(p.name for p in (root / split).iterdir() if p.is_dir())
    lines = []
    for label, name in enumerate(classes):
        files = sorted(p.name for p in (root / split / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        lines += [f"{name}/{file} {label}" for file in files[:per_class]]
    out.write_text("\n".join(lines) + "\n")
    return len(lines)


def main() -> None:
    root = cifar10_root()
    for split, per_class, name in SUBSETS:
        count = write_subset(root, split, per_class, Path(__file__).with_name(name))
        print(f"{name}: {count} images of {root / split}")


if __name__ == "__main__":
    main()
