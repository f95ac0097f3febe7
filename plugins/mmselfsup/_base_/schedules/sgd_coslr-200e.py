# The NDA paper's MoCo-v2 ImageNet-100 schedule: SGD, lr 0.015 for batch 128 (8 GPUs x 16),
# momentum 0.9, weight decay 1e-4, cosine decay over 200 epochs; a checkpoint every 10 epochs.
optimizer = dict(type="SGD", lr=0.015, momentum=0.9, weight_decay=1e-4)
optim_wrapper = dict(type="OptimWrapper", optimizer=optimizer)
param_scheduler = [dict(type="CosineAnnealingLR", T_max=200, by_epoch=True, begin=0, end=200)]
train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=200)
default_hooks = dict(
    logger=dict(type="LoggerHook", interval=50), checkpoint=dict(type="CheckpointHook", interval=10, max_keep_ckpts=3)
)
