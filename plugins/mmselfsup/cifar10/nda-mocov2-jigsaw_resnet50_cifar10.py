# NDA-MoCo-v2 (jigsaw, k=2) on CIFAR-10 with a ResNet-50 (CIFAR stem).
_base_ = ['../_base_/nda-mocov2_resnet18_cifar10.py']

model = dict(backbone=dict(depth=50), neck=dict(in_channels=2048))
