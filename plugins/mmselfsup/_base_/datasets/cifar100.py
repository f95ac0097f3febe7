# CIFAR-100: where it lives and its statistics, for the pre-training and linear-evaluation configs.
# An image-folder tree (train/<class>/*, test/<class>/*) at $NDA_CIFAR100_ROOT, default data/cifar100.
cifar100 = dict(
    data_root="{{$NDA_CIFAR100_ROOT:data/cifar100}}",
    mean=(129.304, 124.070, 112.434),  # RGB, 0-255
    std=(68.170, 65.392, 70.418),
    num_classes=100,
)
