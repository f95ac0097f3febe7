# Plain MoCo-v2 on CIFAR-100 with the NDA paper's settings (as CIFAR-10: ResNet-18 CIFAR stem,
# batch 256, lr 0.3 cosine over 1000 epochs, temperature 0.07, feature dimension 2048).
_base_ = [
    "../_base_/models/mocov2_resnet18_cifar.py",
    "../_base_/datasets/cifar100_mocov2.py",
    "../_base_/schedules/sgd_coslr-1000e.py",
    "../_base_/default_runtime.py",
]
