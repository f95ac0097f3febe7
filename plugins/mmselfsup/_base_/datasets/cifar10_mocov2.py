# CIFAR-10 train split for MoCo-v2 pre-training (batch 256).
_base_ = ["./cifar10.py", "./mocov2_cifar.py"]

data_preprocessor = dict(mean=_base_.cifar10.mean, std=_base_.cifar10.std, bgr_to_rgb=True)
train_dataloader = dict(dataset=dict(type="mmcls.CIFAR10Folder", data_root=_base_.cifar10.data_root))
