# CPU smoke-scale NDA-MoCo-v2 (jigsaw, k=2): 500 real CIFAR-10 images (50 per class), ResNet-18
# CIFAR stem at 1/4 width, batch 32, 2 epochs; a few minutes on 2 CPU cores.
#   mim train mmselfsup plugins/mmselfsup/cpu/nda-mocov2-jigsaw_resnet18-w16_1xb32-coslr-2e_cifar10-500.py --work-dir W
_base_ = ["./mocov2_resnet18-w16_1xb32-coslr-2e_cifar10-500.py", "../_base_/models/nda-mocov2.py"]

model = dict(_base_.nda_model, nda=dict(type="jigsaw", k=2))
