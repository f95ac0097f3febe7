# ImageNet-100 train split for MoCo-v2 pre-training: mmselfsup's own ImageNet MoCo-v2 pipeline
# (224 px crops, colour jitter, blur), batch 16 per GPU (the paper's 128 on 8 GPUs).
_base_ = ["./imagenet100.py", "mmselfsup::selfsup/_base_/datasets/imagenet_mocov2.py"]

train_dataloader = dict(
    batch_size=16,
    dataset=dict(
        _delete_=True,
        type="mmcls.CustomDataset",
        data_root=_base_.imagenet100.data_root,
        data_prefix="train",
        pipeline=_base_.train_pipeline,
    ),
)
