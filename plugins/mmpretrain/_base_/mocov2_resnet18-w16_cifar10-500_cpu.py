# CPU smoke-scale MoCo-v2 in mmpretrain 1.2: 500 real CIFAR-10 images (50 per class, the list in
# plugins/mmselfsup/data), ResNet-18 CIFAR stem at 1/4 width, batch 32, 2 epochs.
_base_ = ['./mocov2_resnet18_cifar10.py']

width = 16
feat_dim = 128
batch_size = 32
max_epochs = 2
model = dict(
    queue_len=256,
    feat_dim=feat_dim,
    momentum=0.01,  # mmpretrain's EMA weight: 1 - 0.99
    backbone=dict(stem_channels=width, base_channels=width),
    neck=dict(in_channels=width * 8, hid_channels=feat_dim, out_channels=feat_dim))
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(ann_file='{{fileDirname}}/../../mmselfsup/data/cifar10_train_500.txt'))
optim_wrapper = dict(optimizer=dict(lr=0.3 * batch_size / 256))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True, begin=0, end=max_epochs)
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=1, max_keep_ckpts=2))
log_processor = dict(window_size=5)
# CPU ranks: gloo, and a DDP wrapper that accepts CPU modules (see docs/mmselfsup.md).
env_cfg = dict(dist_cfg=dict(backend='gloo'))
model_wrapper_cfg = dict(type='CPUAwareDistributedDataParallel')
randomness = dict(seed=0)
