# NDA-MoCo-v2 on CIFAR-10 in mmpretrain 1.2 with the jigsaw NDA.
_base_ = ["./mocov2_resnet18_1xb256-coslr-1000e_cifar10.py", "../_base_/models/nda-mocov2.py"]

model = dict(_base_.nda_model, nda=dict(type="jigsaw", k=2))
