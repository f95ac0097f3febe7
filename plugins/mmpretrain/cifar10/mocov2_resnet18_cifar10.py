# Plain MoCo-v2 baseline on CIFAR-10 (mmpretrain 1.2), the NDA paper's settings.
_base_ = ['../_base_/mocov2_resnet18_cifar10.py']
