# MoCo-v2's two augmented views of a 32x32 image in mmpretrain (the NDA paper's CIFAR pipeline, as
# plugins/mmselfsup's with mmpretrain's crop and packing transforms) and the pre-training loader over
# an image-folder tree; the dataset files set data_root and statistics.
view_pipeline = [
    dict(type="RandomResizedCrop", scale=32, crop_ratio_range=(0.2, 1.0), backend="pillow"),
    dict(
        type="RandomApply",
        prob=0.8,
        transforms=[dict(type="ColorJitter", brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)],
    ),
    dict(type="RandomGrayscale", prob=0.2, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989)),
    dict(type="RandomFlip", prob=0.5),
]
train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="MultiView", num_views=2, transforms=[view_pipeline]),
    dict(type="PackInputs"),
]
train_dataloader = dict(
    batch_size=256,
    num_workers=8,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type="DefaultSampler", shuffle=True),
    collate_fn=dict(type="default_collate"),
    dataset=dict(type="CustomDataset", data_root=None, data_prefix="train", pipeline=train_pipeline),
)
