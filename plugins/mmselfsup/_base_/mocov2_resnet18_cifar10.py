# MoCo-v2 on CIFAR-10 with the NDA paper's settings (Sinha et al., ICLR 2021, Sec. 4):
# ResNet-18 with a CIFAR stem, batch 256, lr 0.3, T 0.07, 1000 epochs, feature dimension 2048.
# Inherits mmselfsup's own MoCo-v2 config; `mmselfsup_nda` is imported for the two upstream
# workarounds (see docs/mmselfsup.md) even in this plain MoCo-v2 baseline.
_base_ = ['mmselfsup::selfsup/mocov2/mocov2_resnet50_8xb32-coslr-200e_in1k.py']

custom_imports = dict(imports=['mmselfsup_nda'], allow_failed_imports=False)

# CIFAR-10 image-folder tree (train/<class>/*.jpg): $NDA_CIFAR10_ROOT, else the tree that
# `python -c "import nda_core.data as d; print(d.cifar10_root())"` extracts into the cache.
cifar10_root_env = '{{$NDA_CIFAR10_ROOT:unset}}'
cifar10_root = ('{{$HOME:/root}}/.cache/nda-plugins/cifar10-jpeg'
                if cifar10_root_env == 'unset' else cifar10_root_env)
cifar10_mean = (125.307, 122.961, 113.8575)
cifar10_std = (51.5865, 50.847, 51.255)

feat_dim = 2048
model = dict(
    type='MoCo',
    queue_len=4096,
    feat_dim=feat_dim,
    momentum=0.999,
    data_preprocessor=dict(mean=cifar10_mean, std=cifar10_std, bgr_to_rgb=True),
    backbone=dict(
        _delete_=True,
        type='mmcls.ResNet_CIFAR',
        depth=18,
        out_indices=[3],
        zero_init_residual=False),
    neck=dict(
        type='MoCoV2Neck',
        in_channels=512,
        hid_channels=2048,
        out_channels=feat_dim,
        with_avg_pool=True),
    head=dict(type='ContrastiveHead', temperature=0.07))

view_pipeline = [
    dict(type='RandomResizedCrop', size=32, scale=(0.2, 1.), backend='pillow'),
    dict(
        type='RandomApply',
        transforms=[
            dict(
                type='ColorJitter',
                brightness=0.4,
                contrast=0.4,
                saturation=0.4,
                hue=0.1)
        ],
        prob=0.8),
    dict(
        type='RandomGrayscale',
        prob=0.2,
        keep_channels=True,
        channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='RandomFlip', prob=0.5),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
    dict(type='PackSelfSupInputs', meta_keys=['img_path'])
]
# Standard CIFAR format instead: dataset=dict(type='mmcls.CIFAR10', data_root='data/cifar10',
# pipeline=train_pipeline[1:]) (it yields decoded images, so drop LoadImageFromFile).
train_dataloader = dict(
    batch_size=256,
    num_workers=8,
    drop_last=True,
    dataset=dict(
        _delete_=True,
        type='mmcls.CustomDataset',
        data_root=cifar10_root,
        data_prefix='train',
        pipeline=train_pipeline))

optimizer = dict(type='SGD', lr=0.3, weight_decay=1e-4, momentum=0.9)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer)
max_epochs = 1000
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True, begin=0, end=max_epochs)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
default_hooks = dict(checkpoint=dict(interval=50, max_keep_ckpts=3))
