# Linear evaluation of a MoCo-v2 / NDA-MoCo-v2 ResNet-18 (CIFAR stem) on CIFAR-10, the NDA
# paper's protocol: frozen backbone, linear classifier, 100 epochs, batch 256, lr 10.
# Pass the pre-training checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=WORK_DIR/epoch_1000.pth
# Run with `mim train mmcls <this config>` (mmcls's scope; mmselfsup's train.py also works).
# Built on mmcls's runtime only: inheriting mmselfsup's benchmark configs across packages would
# put every dict under the mmselfsup scope, where mmcls's ImageClassifier is not registered.
_base_ = ['mmcls::_base_/default_runtime.py']

custom_imports = dict(imports=['mmselfsup_nda'], allow_failed_imports=False)

cifar10_root_env = '{{$NDA_CIFAR10_ROOT:unset}}'
cifar10_root = ('{{$HOME:/root}}/.cache/nda-plugins/cifar10-jpeg'
                if cifar10_root_env == 'unset' else cifar10_root_env)
pretrained = '{{$NDA_PRETRAINED:set-model.backbone.init_cfg.checkpoint}}'

model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        num_classes=10,
        mean=[125.307, 122.961, 113.8575],
        std=[51.5865, 50.847, 51.255],
        to_rgb=True),
    backbone=dict(
        type='ResNet_CIFAR',
        depth=18,
        out_indices=[3],
        frozen_stages=4,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackClsInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackClsInputs')]
train_dataloader = dict(
    batch_size=256,
    num_workers=8,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='CustomDataset',
        data_root=cifar10_root,
        data_prefix='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=256,
    num_workers=8,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CustomDataset',
        data_root=cifar10_root,
        data_prefix='test',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

optimizer = dict(type='SGD', lr=10., momentum=0.9, weight_decay=0.)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer)
max_epochs = 100
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, milestones=[60, 80], gamma=0.1)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3))
