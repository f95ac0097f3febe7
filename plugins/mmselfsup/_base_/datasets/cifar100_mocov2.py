# CIFAR-100 train split for MoCo-v2 pre-training (batch 256).
_base_ = ["./cifar100.py", "./mocov2_cifar.py"]

data_preprocessor = dict(mean=_base_.cifar100.mean, std=_base_.cifar100.std, bgr_to_rgb=True)
train_dataloader = dict(dataset=dict(data_root=_base_.cifar100.data_root))
