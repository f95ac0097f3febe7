# CPU smoke-scale plain MoCo-v2 baseline: 500 real CIFAR-10 images, ResNet-18 at 1/4 width,
# batch 32, 2 epochs. Same budget as the NDA CPU config.
#   mim train mmselfsup plugins/mmselfsup/cpu/mocov2_resnet18-w16_cifar10-500_cpu.py --work-dir W
_base_ = ['../_base_/mocov2_resnet18-w16_cifar10-500_cpu.py']
