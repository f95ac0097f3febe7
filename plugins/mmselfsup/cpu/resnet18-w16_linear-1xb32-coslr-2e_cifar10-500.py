# CPU smoke-scale linear evaluation of the CPU pre-training configs: 500 train / 200 test real
# CIFAR-10 images, the frozen 1/4-width backbone, its pooled features standardised (FeatureBatchNorm)
# before the linear classifier, batch 32, lr 0.03, 2 epochs.
#   mim train mmcls plugins/mmselfsup/cpu/resnet18-w16_linear-1xb32-coslr-2e_cifar10-500.py --work-dir W \
#       --cfg-options model.backbone.init_cfg.checkpoint=PRETRAIN_WORK_DIR/epoch_2.pth
_base_ = [
    "../_base_/models/linear_resnet18_cifar.py",
    "../_base_/datasets/cifar10-500_linear.py",
    "../_base_/schedules/linear_sgd_coslr-2e_cpu.py",
    "../_base_/linear_runtime.py",
]

model = dict(
    backbone=dict(stem_channels=16, base_channels=16),
    neck=[dict(type="GlobalAveragePooling"), dict(type="mmselfsup.FeatureBatchNorm", num_features=128)],
    head=dict(in_channels=128),
)
