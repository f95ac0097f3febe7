# Linear evaluation of a pre-trained ResNet-18 (CIFAR stem) on CIFAR-10, the NDA paper's
# protocol: frozen backbone, linear classifier, batch 256, lr 10, 100 epochs. Run with
#   mim train mmcls plugins/mmselfsup/linear/resnet18_linear-1xb256-steplr-100e_cifar10.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=PRETRAIN_WORK_DIR/epoch_1000.pth
_base_ = [
    "../_base_/models/linear_resnet18_cifar.py",
    "../_base_/datasets/cifar10_linear.py",
    "../_base_/schedules/linear_sgd_steplr-100e.py",
    "../_base_/linear_runtime.py",
]
