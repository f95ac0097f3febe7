# CIFAR-10 for linear evaluation: train split to fit the classifier, test split to validate.
_base_ = ["./cifar10.py", "./cifar_linear.py"]

data_preprocessor = dict(
    num_classes=_base_.cifar10.num_classes, mean=_base_.cifar10.mean, std=_base_.cifar10.std, to_rgb=True
)
train_dataloader = dict(dataset=dict(type="CIFAR10Folder", data_root=_base_.cifar10.data_root))
val_dataloader = dict(dataset=dict(type="CIFAR10Folder", data_root=_base_.cifar10.data_root))
test_dataloader = val_dataloader
