# Linear evaluation on a 32x32 image-folder dataset (mmcls): random crop with 4 px padding and
# horizontal flip for training, the plain test split for validation; the dataset files set
# data_root and statistics.
train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="RandomCrop", crop_size=32, padding=4),
    dict(type="RandomFlip", prob=0.5, direction="horizontal"),
    dict(type="PackClsInputs"),
]
test_pipeline = [dict(type="LoadImageFromFile"), dict(type="PackClsInputs")]
train_dataloader = dict(
    batch_size=256,
    num_workers=8,
    sampler=dict(type="DefaultSampler", shuffle=True),
    dataset=dict(type="CustomDataset", data_root=None, data_prefix="train", pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=256,
    num_workers=8,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(type="CustomDataset", data_root=None, data_prefix="test", pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = dict(type="Accuracy", topk=(1,))
test_evaluator = val_evaluator
