# Linear evaluation, ResNet-50 on ImageNet-100: the NDA paper's lr 30, 100 epochs, batch 256
# (8 GPUs x 32); frozen backbone, mmcls's ImageNet pipelines. Built on mmcls's own bases (an
# mmselfsup base would put the classifier under the mmselfsup scope, where it is not registered).
#   mim train mmcls plugins/mmselfsup/linear/linear_resnet50_in100.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=PRETRAIN_WORK_DIR/epoch_200.pth
_base_ = [
    'mmcls::_base_/models/resnet50.py',
    'mmcls::_base_/datasets/imagenet_bs32.py',
    'mmcls::_base_/default_runtime.py',
]

custom_imports = dict(imports=['mmselfsup_nda'], allow_failed_imports=False)

in100_root = '{{$NDA_IN100_ROOT:data/imagenet100}}'
pretrained = '{{$NDA_PRETRAINED:set-model.backbone.init_cfg.checkpoint}}'
model = dict(
    backbone=dict(
        frozen_stages=4,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(num_classes=100, topk=(1, 5)))
train_dataloader = dict(dataset=dict(type='CustomDataset', data_root=in100_root, ann_file='', data_prefix='train'))
val_dataloader = dict(dataset=dict(type='CustomDataset', data_root=in100_root, ann_file='', data_prefix='val'))
test_dataloader = val_dataloader

optimizer = dict(type='SGD', lr=30., momentum=0.9, weight_decay=0.)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer)
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, milestones=[60, 80], gamma=0.1)
]
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=10)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3))
