# CIFAR-10: where it lives and its statistics, the one place every CIFAR-10 config of this tree reads
# them (pre-training and linear evaluation).
#
# The root is an image-folder tree (train/<class>/*, test/<class>/*) at $NDA_CIFAR10_ROOT, default
# data/cifar10 under the folder you run from. `export NDA_CIFAR10_ROOT=$(nda data cifar10 --print-root)`
# prepares it once (in nda's cache folder) and points the configs at it; --cfg-options
# train_dataloader.dataset.data_root=PATH also works. The datasets are CIFAR10Folder (mmcls's
# CustomDataset; mmselfsup_nda registers it), which stops with one line naming NDA_CIFAR10_ROOT and
# `nda data cifar10` when the root holds no train/ or test/ folder.
cifar10 = dict(
    data_root="{{$NDA_CIFAR10_ROOT:data/cifar10}}",
    mean=(125.307, 122.961, 113.8575),  # RGB, 0-255
    std=(51.5865, 50.847, 51.255),
    num_classes=10,
)
