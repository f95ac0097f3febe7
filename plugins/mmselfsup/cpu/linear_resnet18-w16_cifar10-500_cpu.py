# CPU smoke-scale linear evaluation of the CPU pre-training configs: 500 train / 200 test real
# CIFAR-10 images, frozen 1/4-width ResNet-18, batch 32, 2 epochs.
#   mim train mmcls plugins/mmselfsup/cpu/linear_resnet18-w16_cifar10-500_cpu.py --work-dir W \
#       --cfg-options model.backbone.init_cfg.checkpoint=PRETRAIN_WORK_DIR/epoch_2.pth
_base_ = ['../_base_/linear_resnet18_cifar10.py']

width = 16
batch_size = 32
max_epochs = 2
model = dict(
    backbone=dict(stem_channels=width, base_channels=width),
    head=dict(in_channels=width * 8))
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(ann_file='{{fileDirname}}/../data/cifar10_train_500.txt'))
val_dataloader = dict(
    batch_size=100,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(ann_file='{{fileDirname}}/../data/cifar10_test_200.txt'))
test_dataloader = val_dataloader
optimizer = dict(lr=10. * batch_size / 256)
optim_wrapper = dict(optimizer=optimizer)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True, begin=0, end=max_epochs)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=1, max_keep_ckpts=2))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
