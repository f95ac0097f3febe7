# NDA-MoCo-v2 on CIFAR-10 with the mixup NDA: NDA(query image) and NDA(key image) are extra
# negatives of their own query, encoded by the momentum encoder, never enqueued.
_base_ = ['../_base_/nda-mocov2_resnet18_cifar10.py']

model = dict(nda=dict(_delete_=True, type='mixup'))
