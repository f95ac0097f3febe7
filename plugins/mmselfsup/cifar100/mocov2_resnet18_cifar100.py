# Plain MoCo-v2 baseline on CIFAR100, the NDA paper's settings (see ../_base_/mocov2_resnet18_cifar100.py).
_base_ = ['../_base_/mocov2_resnet18_cifar100.py']
