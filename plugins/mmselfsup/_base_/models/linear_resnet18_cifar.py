# Linear evaluation of a pre-trained ResNet-18 CIFAR-stem backbone (mmcls): all four stages frozen
# (BatchNorm statistics too), global average pooling, one linear layer. The weights come from the
# pre-training checkpoint: $NDA_PRETRAINED or --cfg-options model.backbone.init_cfg.checkpoint=PATH.
model = dict(
    type="ImageClassifier",
    backbone=dict(
        type="ResNet_CIFAR",
        depth=18,
        out_indices=[3],
        frozen_stages=4,
        init_cfg=dict(
            type="Pretrained",
            checkpoint="{{$NDA_PRETRAINED:set-model.backbone.init_cfg.checkpoint}}",
            prefix="backbone.",
        ),
    ),
    neck=dict(type="GlobalAveragePooling"),
    head=dict(type="LinearClsHead", num_classes=10, in_channels=512, loss=dict(type="CrossEntropyLoss"), topk=(1,)),
)
