# Plain MoCo-v2 on CIFAR-10 with a ResNet-50 (CIFAR stem); otherwise the ResNet-18 settings.
_base_ = ["./mocov2_resnet18_1xb256-coslr-1000e_cifar10.py"]

model = dict(backbone=dict(depth=50), neck=dict(in_channels=2048))
