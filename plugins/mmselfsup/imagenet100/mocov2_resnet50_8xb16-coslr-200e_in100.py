# Plain MoCo-v2 on ImageNet-100 with the NDA paper's settings: mmselfsup's ResNet-50 MoCo-v2
# (feature dimension 128, temperature 0.2) with a queue of 16384, batch 128 (8 GPUs x 16),
# lr 0.015 cosine over 200 epochs.
_base_ = [
    "mmselfsup::selfsup/_base_/models/mocov2.py",
    "../_base_/datasets/imagenet100_mocov2.py",
    "../_base_/schedules/sgd_coslr-200e.py",
    "../_base_/default_runtime.py",
]

model = dict(queue_len=16384)
