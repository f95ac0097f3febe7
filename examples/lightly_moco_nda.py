"""NDA-MoCo (or plain MoCo) with lightly and PyTorch Lightning on an image folder.

    python examples/lightly_moco_nda.py                              # NDA-MoCo (jigsaw) on real CIFAR-10
    python examples/lightly_moco_nda.py --nda none                   # plain lightly MoCo, same budget
    python examples/lightly_moco_nda.py --nda stitch --max-steps 2000 --batch-size 256 --devices 1 --accelerator gpu
    python examples/lightly_moco_nda.py --data path/to/folder --val-data none --logger tensorboard
    python examples/lightly_moco_nda.py --resume last                # continue OUT/checkpoints/last.ckpt

The same as ``nda lightly train``. It builds what lightly's ``examples/pytorch_lightning/moco.py``
builds (``MoCoV2Transform``, a ResNet backbone, ``MoCoProjectionHead``, momentum encoder,
``NTXentLoss`` with a memory bank), as ``lightly_nda.NDAMoCo``: for every image, NDA images of
its own query and key views (jigsaw by default) are embedded by the momentum encoder and become
extra negatives of that image only. The recipe is ``lightly_nda/train.py``; the two-line change
to lightly's own example is in docs/lightly.md.

Data: ``--data`` is an image folder ``root/<class>/<image>`` (torchvision ``ImageFolder``); by
default the CIFAR-10 training images prepared from the offline archive (``nda data cifar10``).
Labels are used only by the online linear classifier that reports ``train_online_cls_top1``
during training and ``val_online_cls_top1`` on ``--val-data`` (default: the ``test/`` folder
beside ``--data``).

Output in ``--out`` (default ``lightly-nda-out``): ``csv/version_*/metrics.csv`` (or TensorBoard
events) with ``train_loss``, ``logit_pos``, ``logit_neg``, ``logit_nda``, ``momentum`` and the
online accuracy, and ``checkpoints/`` (model, optimiser, step count and memory bank; ``last.ckpt``
resumes with ``--resume last``).
"""

from lightly_nda.train import main

if __name__ == "__main__":
    raise SystemExit(main())
