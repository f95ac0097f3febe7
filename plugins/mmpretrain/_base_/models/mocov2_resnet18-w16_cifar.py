# The CPU smoke model in mmpretrain: 1/4 width (16 base channels), feature dimension 128, a queue
# of 256 keys, EMA weight 0.01 (mmselfsup's momentum 0.99).
_base_ = ["./mocov2_resnet18_cifar.py"]

model = dict(
    queue_len=256,
    feat_dim=128,
    momentum=0.01,
    backbone=dict(stem_channels=16, base_channels=16),
    neck=dict(in_channels=128, hid_channels=128, out_channels=128),
)
