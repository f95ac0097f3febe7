# MoCo-v2 on ImageNet-100 with the NDA paper's settings: ResNet-50, batch 128 (8 GPUs x 16),
# lr 0.015, T 0.2, feature dimension 128, 200 epochs. Inherits mmselfsup's MoCo-v2 config.
_base_ = ['mmselfsup::selfsup/mocov2/mocov2_resnet50_8xb32-coslr-200e_in1k.py']

custom_imports = dict(imports=['mmselfsup_nda'], allow_failed_imports=False)

# ImageNet-100 image-folder tree (train/<wnid>/*.JPEG): $NDA_IN100_ROOT or data/imagenet100.
in100_root = '{{$NDA_IN100_ROOT:data/imagenet100}}'
model = dict(
    queue_len=16384,
    feat_dim=128,
    neck=dict(out_channels=128),
    head=dict(temperature=0.2))
train_dataloader = dict(
    batch_size=16,
    dataset=dict(
        _delete_=True,
        type='mmcls.CustomDataset',
        data_root=in100_root,
        data_prefix='train',
        pipeline={{_base_.train_pipeline}}))
optimizer = dict(type='SGD', lr=0.015, weight_decay=1e-4, momentum=0.9)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer)
