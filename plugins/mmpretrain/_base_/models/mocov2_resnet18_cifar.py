# MoCo-v2 with a ResNet-18 CIFAR stem in mmpretrain, the NDA paper's CIFAR model: feature dimension
# 2048, a queue of 4096 keys, temperature 0.07. mmpretrain's `momentum` is the EMA update weight:
# 0.001 here is mmselfsup's key-encoder momentum 0.999.
model = dict(
    type="MoCo",
    queue_len=4096,
    feat_dim=2048,
    momentum=0.001,
    backbone=dict(type="ResNet_CIFAR", depth=18, zero_init_residual=False),
    neck=dict(type="MoCoV2Neck", in_channels=512, hid_channels=2048, out_channels=2048, with_avg_pool=True),
    head=dict(type="ContrastiveHead", loss=dict(type="CrossEntropyLoss"), temperature=0.07),
)
