# CPU smoke-scale plain MoCo-v2 baseline (mmpretrain 1.2).
#   mim train mmpretrain plugins/mmpretrain/cpu/mocov2_resnet18-w16_cifar10-500_cpu.py --work-dir W
_base_ = ['../_base_/mocov2_resnet18-w16_cifar10-500_cpu.py']
