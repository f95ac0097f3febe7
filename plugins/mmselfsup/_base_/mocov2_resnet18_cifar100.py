# MoCo-v2 on CIFAR-100 with the NDA paper's settings (ResNet-18 CIFAR stem, batch 256, lr 0.3,
# T 0.07, 1000 epochs, feature dimension 2048); only the data differ from CIFAR-10.
_base_ = ['./mocov2_resnet18_cifar10.py']

# CIFAR-100 image-folder tree (train/<class>/*.png|jpg): $NDA_CIFAR100_ROOT or data/cifar100.
cifar100_root = '{{$NDA_CIFAR100_ROOT:data/cifar100}}'
model = dict(
    data_preprocessor=dict(
        mean=(129.304, 124.070, 112.434), std=(68.170, 65.392, 70.418)))
train_dataloader = dict(dataset=dict(data_root=cifar100_root))
