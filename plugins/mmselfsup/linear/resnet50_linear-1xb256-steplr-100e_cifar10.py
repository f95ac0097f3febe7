# Linear evaluation of a pre-trained ResNet-50 (CIFAR stem) on CIFAR-10 (lr 10, 100 epochs, batch 256).
_base_ = ["./resnet18_linear-1xb256-steplr-100e_cifar10.py"]

model = dict(backbone=dict(depth=50), head=dict(in_channels=2048))
