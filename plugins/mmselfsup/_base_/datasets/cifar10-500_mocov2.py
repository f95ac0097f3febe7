# The CPU smoke subset: the first 50 images of each CIFAR-10 class (500, listed in
# plugins/mmselfsup/data/cifar10_train_500.txt), batch 32, loaded in the main process (no pinned memory: CPU).
_base_ = ["./cifar10_mocov2.py"]

train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    pin_memory=False,
    dataset=dict(ann_file="{{fileDirname}}/../../data/cifar10_train_500.txt"),
)
