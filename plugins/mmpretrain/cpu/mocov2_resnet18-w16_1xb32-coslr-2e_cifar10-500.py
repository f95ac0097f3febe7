# CPU smoke-scale plain MoCo-v2 in mmpretrain 1.2 (500 CIFAR-10 images, 1/4 width, batch 32, 2 epochs).
#   mim train mmpretrain plugins/mmpretrain/cpu/mocov2_resnet18-w16_1xb32-coslr-2e_cifar10-500.py --work-dir W
_base_ = [
    "../_base_/models/mocov2_resnet18-w16_cifar.py",
    "../_base_/datasets/cifar10-500_mocov2.py",
    "../_base_/schedules/sgd_coslr-2e_cpu.py",
    "../_base_/default_runtime.py",
]
