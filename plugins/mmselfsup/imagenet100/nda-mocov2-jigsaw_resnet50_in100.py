# NDA-MoCo-v2 on ImageNet-100 with the jigsaw NDA.
_base_ = ['../_base_/nda-mocov2_resnet50_in100.py']

model = dict(nda=dict(_delete_=True, type='jigsaw', k=2))
