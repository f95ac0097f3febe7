# CPU smoke-scale NDA-MoCo-v2: 500 real CIFAR-10 images (50 per class), ResNet-18 CIFAR stem
# at 1/4 width (16 base channels), batch 32, 2 epochs; a few minutes on 2 CPU cores.
#   mim train mmselfsup plugins/mmselfsup/cpu/nda-mocov2-jigsaw_resnet18-w16_cifar10-500_cpu.py --work-dir W
_base_ = ['../_base_/mocov2_resnet18-w16_cifar10-500_cpu.py']

model = dict(
    type='NDAMoCo',
    nda=dict(type='jigsaw', k=2),
    nda_encoder='key',
    num_nda_views=2,
    head=dict(type='NDAContrastiveHead', temperature=0.07))
