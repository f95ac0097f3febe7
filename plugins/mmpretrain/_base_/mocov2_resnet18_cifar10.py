# MoCo-v2 on CIFAR-10 in mmpretrain 1.2 with the NDA paper's settings: ResNet-18 with a CIFAR
# stem, batch 256, lr 0.3, T 0.07, 1000 epochs, feature dimension 2048. Inherits mmpretrain's
# own MoCo-v2 config; `mmselfsup_nda` is imported for the numpy-2 hue-jitter workaround.
_base_ = ['mmpretrain::mocov2/mocov2_resnet50_8xb32-coslr-200e_in1k.py']

custom_imports = dict(imports=['mmselfsup_nda'], allow_failed_imports=False)

# CIFAR-10 image-folder tree: $NDA_CIFAR10_ROOT, else the tree that
# `python -c "import nda_core.data as d; print(d.cifar10_root())"` extracts into the cache.
cifar10_root_env = '{{$NDA_CIFAR10_ROOT:unset}}'
cifar10_root = ('{{$HOME:/root}}/.cache/nda-plugins/cifar10-jpeg'
                if cifar10_root_env == 'unset' else cifar10_root_env)

data_preprocessor = dict(
    mean=[125.307, 122.961, 113.8575], std=[51.5865, 50.847, 51.255], to_rgb=True)
feat_dim = 2048
model = dict(
    queue_len=4096,
    feat_dim=feat_dim,
    backbone=dict(_delete_=True, type='ResNet_CIFAR', depth=18, zero_init_residual=False),
    neck=dict(in_channels=512, hid_channels=2048, out_channels=feat_dim),
    head=dict(temperature=0.07))

view_pipeline = [
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.2, 1.), backend='pillow'),
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
    dict(type='PackInputs')
]
train_dataloader = dict(
    batch_size=256,
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=cifar10_root,
        data_prefix='train',
        pipeline=train_pipeline))

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.3, weight_decay=1e-4, momentum=0.9))
max_epochs = 1000
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True, begin=0, end=max_epochs)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
default_hooks = dict(checkpoint=dict(interval=50, max_keep_ckpts=3))
