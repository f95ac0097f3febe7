# The NDA paper's MoCo-v2 CIFAR schedule: SGD, lr 0.3 for batch 256, momentum 0.9, weight decay
# 1e-4, cosine decay over 1000 epochs; a log line every 50 iterations, a checkpoint every 50
# epochs (the last 3 kept). plugins/mmpretrain has the same file.
optimizer = dict(type="SGD", lr=0.3, momentum=0.9, weight_decay=1e-4)
optim_wrapper = dict(type="OptimWrapper", optimizer=optimizer)
param_scheduler = [dict(type="CosineAnnealingLR", T_max=1000, by_epoch=True, begin=0, end=1000)]
train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=1000)
default_hooks = dict(
    logger=dict(type="LoggerHook", interval=50), checkpoint=dict(type="CheckpointHook", interval=50, max_keep_ckpts=3)
)
