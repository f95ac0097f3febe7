# Linear evaluation of a pre-trained ResNet-50 on ImageNet-100, the NDA paper's protocol: frozen
# backbone, mmcls's ImageNet pipelines, batch 256 (8 GPUs x 32), lr 30, 100 epochs.
#   mim train mmcls plugins/mmselfsup/linear/resnet50_linear-8xb32-steplr-100e_in100.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=PRETRAIN_WORK_DIR/epoch_200.pth
_base_ = [
    "mmcls::_base_/models/resnet50.py",
    "../_base_/datasets/imagenet100_linear.py",
    "../_base_/schedules/linear_sgd_steplr-100e.py",
    "../_base_/linear_runtime.py",
]

model = dict(
    backbone=dict(
        frozen_stages=4,
        init_cfg=dict(
            type="Pretrained",
            checkpoint="{{$NDA_PRETRAINED:set-model.backbone.init_cfg.checkpoint}}",
            prefix="backbone.",
        ),
    ),
    head=dict(num_classes=100, topk=(1, 5)),
)
optimizer = dict(lr=30.0)
optim_wrapper = dict(optimizer=optimizer)
