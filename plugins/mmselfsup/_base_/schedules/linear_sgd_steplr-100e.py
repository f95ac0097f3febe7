# The NDA paper's linear-evaluation schedule: SGD, lr 10 for batch 256, momentum 0.9, no weight
# decay, 100 epochs with the lr divided by 10 at epochs 60 and 80; validation and a checkpoint
# every 10 epochs (the last 3 kept).
optimizer = dict(type="SGD", lr=10.0, momentum=0.9, weight_decay=0.0)
optim_wrapper = dict(type="OptimWrapper", optimizer=optimizer)
param_scheduler = [dict(type="MultiStepLR", by_epoch=True, milestones=[60, 80], gamma=0.1)]
train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=100, val_interval=10)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(checkpoint=dict(type="CheckpointHook", interval=10, max_keep_ckpts=3))
