# The CPU smoke budget for linear evaluation: 2 epochs at batch 32, lr 0.03 (momentum 0.9, no
# weight decay) with cosine decay, validation and a checkpoint every epoch, seed 0. The lr is for
# standardised features (the CPU linear config puts FeatureBatchNorm before the classifier): the
# paper's lr 10 at batch 256 suits a fully trained MoCo encoder's features, and scaled to batch 32
# (1.25) it diverges on a 2-epoch encoder's (loss 2.3 -> 420); docs/mmselfsup.md has the sweep.
optimizer = dict(type="SGD", lr=0.03, momentum=0.9, weight_decay=0.0)
optim_wrapper = dict(type="OptimWrapper", optimizer=optimizer)
param_scheduler = [dict(type="CosineAnnealingLR", T_max=2, by_epoch=True, begin=0, end=2)]
train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=2, val_interval=1)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(type="LoggerHook", interval=5), checkpoint=dict(type="CheckpointHook", interval=1, max_keep_ckpts=2)
)
randomness = dict(seed=0)
