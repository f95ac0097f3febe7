# NDA-MoCo-v2 on CIFAR-10: the MoCo-v2 baseline plus NDA negatives (default: jigsaw, k=2,
# the paper's best), one NDA of the query image and one of the key image per query,
# encoded by the momentum encoder and never enqueued.
_base_ = ['./mocov2_resnet18_cifar10.py']

model = dict(
    type='NDAMoCo',
    nda=dict(type='jigsaw', k=2),
    nda_encoder='key',
    num_nda_views=2,
    head=dict(type='NDAContrastiveHead', temperature=0.07))
