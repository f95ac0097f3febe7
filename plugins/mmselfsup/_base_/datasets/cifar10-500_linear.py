# The CPU smoke subsets for linear evaluation: the first 50 train and 20 test images of each
# CIFAR-10 class (plugins/mmselfsup/data/cifar10_{train_500,test_200}.txt), loaded in the main process.
_base_ = ["./cifar10_linear.py"]

train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    pin_memory=False,
    dataset=dict(ann_file="{{fileDirname}}/../../data/cifar10_train_500.txt"),
)
val_dataloader = dict(
    batch_size=100,
    num_workers=0,
    persistent_workers=False,
    pin_memory=False,
    dataset=dict(ann_file="{{fileDirname}}/../../data/cifar10_test_200.txt"),
)
test_dataloader = val_dataloader
