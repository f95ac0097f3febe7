# NDA-MoCo-v2 on ImageNet-100 with the jigsaw NDA: an NDA of each query image and of its key image
# are extra negatives of that query, encoded by the momentum encoder, never enqueued.
_base_ = ["./mocov2_resnet50_8xb16-coslr-200e_in100.py", "../_base_/models/nda-mocov2.py"]

model = dict(_base_.nda_model, nda=dict(type="jigsaw", k=2))
