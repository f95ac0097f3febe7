# NDA-MoCo-v2 on CIFAR-10 (mmpretrain 1.2) with the mixup NDA.
_base_ = ['../_base_/nda-mocov2_resnet18_cifar10.py']

model = dict(nda=dict(_delete_=True, type='mixup'))
