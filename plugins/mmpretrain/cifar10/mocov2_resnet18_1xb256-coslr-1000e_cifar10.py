# Plain MoCo-v2 on CIFAR-10 in mmpretrain 1.2 with the NDA paper's settings: ResNet-18 CIFAR stem,
# batch 256, lr 0.3 cosine over 1000 epochs, temperature 0.07, feature dimension 2048, queue 4096.
_base_ = [
    "../_base_/models/mocov2_resnet18_cifar.py",
    "../_base_/datasets/cifar10_mocov2.py",
    "../_base_/schedules/sgd_coslr-1000e.py",
    "../_base_/default_runtime.py",
]
