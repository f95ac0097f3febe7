# NDA-MoCo-v2 on CIFAR-10 in mmpretrain 1.2 (default NDA: jigsaw, k=2).
_base_ = ['./mocov2_resnet18_cifar10.py']

model = dict(
    type='NDAMoCo',
    nda=dict(type='jigsaw', k=2),
    nda_encoder='key',
    num_nda_views=2,
    head=dict(type='NDAContrastiveHead', temperature=0.07))
