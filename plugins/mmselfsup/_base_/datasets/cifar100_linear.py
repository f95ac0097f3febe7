# CIFAR-100 for linear evaluation: train split to fit the classifier, test split to validate.
_base_ = ["./cifar100.py", "./cifar_linear.py"]

data_preprocessor = dict(
    num_classes=_base_.cifar100.num_classes, mean=_base_.cifar100.mean, std=_base_.cifar100.std, to_rgb=True
)
train_dataloader = dict(dataset=dict(data_root=_base_.cifar100.data_root))
val_dataloader = dict(dataset=dict(data_root=_base_.cifar100.data_root))
test_dataloader = val_dataloader
