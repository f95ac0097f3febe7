# MoCo-v2's two augmented views of a 32x32 image in mmpretrain: the mmselfsup plugin's views with
# mmpretrain's crop and packing transforms, and the same pre-training loader.
_base_ = ['../../../mmselfsup/_base_/datasets/mocov2_cifar.py']

view_pipeline = [
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.2, 1.), backend='pillow'),
    *_base_.view_pipeline[1:],  # colour jitter, grayscale, flip
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(type='CustomDataset', pipeline=train_pipeline))
