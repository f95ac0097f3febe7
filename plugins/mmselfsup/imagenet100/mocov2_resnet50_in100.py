# Plain MoCo-v2 baseline on ImageNet-100 (see ../_base_/mocov2_resnet50_in100.py).
_base_ = ['../_base_/mocov2_resnet50_in100.py']
