# The CPU smoke budget for pre-training: 2 epochs at batch 32 with the paper's lr scaled linearly
# (0.3 x 32 / 256 = 0.0375), cosine decay; a log line every 5 iterations, a checkpoint every epoch
# (the last 2 kept), seed 0. CPU ranks: gloo and a DDP wrapper that accepts CPU modules (see
# docs/mmselfsup.md). plugins/mmpretrain has the same file.
optimizer = dict(type="SGD", lr=0.3 * 32 / 256, momentum=0.9, weight_decay=1e-4)
optim_wrapper = dict(type="OptimWrapper", optimizer=optimizer)
param_scheduler = [dict(type="CosineAnnealingLR", T_max=2, by_epoch=True, begin=0, end=2)]
train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=2)
default_hooks = dict(
    logger=dict(type="LoggerHook", interval=5), checkpoint=dict(type="CheckpointHook", interval=1, max_keep_ckpts=2)
)
log_processor = dict(window_size=5)
randomness = dict(seed=0)
env_cfg = dict(dist_cfg=dict(backend="gloo"))
model_wrapper_cfg = dict(type="CPUAwareDistributedDataParallel")
