# Linear evaluation, ResNet-18 on CIFAR-10 (lr 10, 100 epochs, batch 256).
_base_ = ['../_base_/linear_resnet18_cifar10.py']
