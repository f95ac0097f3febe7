# ImageNet-100 (the 100-class subset of the NDA paper and CMC): an image-folder tree
# (train/<wnid>/*.JPEG, val/<wnid>/*.JPEG) at $NDA_IN100_ROOT, default data/imagenet100.
imagenet100 = dict(data_root="{{$NDA_IN100_ROOT:data/imagenet100}}", num_classes=100)
