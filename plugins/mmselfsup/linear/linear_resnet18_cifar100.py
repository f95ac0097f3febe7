# Linear evaluation, ResNet-18 on CIFAR-100 (lr 10, 100 epochs, batch 256).
_base_ = ['../_base_/linear_resnet18_cifar10.py']

cifar100_root = '{{$NDA_CIFAR100_ROOT:data/cifar100}}'
model = dict(
    data_preprocessor=dict(
        num_classes=100, mean=[129.304, 124.070, 112.434], std=[68.170, 65.392, 70.418]),
    head=dict(num_classes=100))
train_dataloader = dict(dataset=dict(data_root=cifar100_root))
val_dataloader = dict(dataset=dict(data_root=cifar100_root))
test_dataloader = val_dataloader
