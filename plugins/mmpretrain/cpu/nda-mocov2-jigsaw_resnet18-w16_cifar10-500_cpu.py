# CPU smoke-scale NDA-MoCo-v2 (mmpretrain 1.2), jigsaw k=2; a few minutes on 2 CPU cores.
#   mim train mmpretrain plugins/mmpretrain/cpu/nda-mocov2-jigsaw_resnet18-w16_cifar10-500_cpu.py --work-dir W
_base_ = ['../_base_/mocov2_resnet18-w16_cifar10-500_cpu.py']

model = dict(
    type='NDAMoCo',
    nda=dict(type='jigsaw', k=2),
    nda_encoder='key',
    num_nda_views=2,
    head=dict(type='NDAContrastiveHead', temperature=0.07))
