# Linear evaluation of a pre-trained ResNet-18 (CIFAR stem) on CIFAR-100 (lr 10, 100 epochs, batch 256).
_base_ = [
    "../_base_/models/linear_resnet18_cifar.py",
    "../_base_/datasets/cifar100_linear.py",
    "../_base_/schedules/linear_sgd_steplr-100e.py",
    "../_base_/linear_runtime.py",
]

model = dict(head=dict(num_classes=100))
