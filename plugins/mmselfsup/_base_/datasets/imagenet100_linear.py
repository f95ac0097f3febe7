# ImageNet-100 for linear evaluation: mmcls's ImageNet pipelines (224 px), train/ to fit the
# classifier, val/ to validate (image folders, no annotation files).
_base_ = ["./imagenet100.py", "mmcls::_base_/datasets/imagenet_bs32.py"]

data_preprocessor = dict(num_classes=_base_.imagenet100.num_classes)
train_dataloader = dict(
    dataset=dict(type="CustomDataset", data_root=_base_.imagenet100.data_root, ann_file="", data_prefix="train")
)
val_dataloader = dict(
    dataset=dict(type="CustomDataset", data_root=_base_.imagenet100.data_root, ann_file="", data_prefix="val")
)
test_dataloader = val_dataloader
