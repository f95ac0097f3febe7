# MoCo-v2 with a ResNet-18 CIFAR stem (3x3 first convolution, no max-pool), the NDA paper's CIFAR
# model (Sinha et al., ICLR 2021, Sec. 4): feature dimension 2048, a queue of 4096 keys, key-encoder
# momentum 0.999, temperature 0.07. Image statistics come from the dataset's data_preprocessor.
model = dict(
    type="MoCo",
    queue_len=4096,
    feat_dim=2048,
    momentum=0.999,
    backbone=dict(type="mmcls.ResNet_CIFAR", depth=18, out_indices=[3], zero_init_residual=False),
    neck=dict(type="MoCoV2Neck", in_channels=512, hid_channels=2048, out_channels=2048, with_avg_pool=True),
    head=dict(type="ContrastiveHead", loss=dict(type="mmcls.CrossEntropyLoss"), temperature=0.07),
)
