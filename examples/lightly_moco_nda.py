"""NDA-MoCo (or plain MoCo) with lightly and PyTorch Lightning on image folders: ``nda lightly train`` as a script.

    python examples/lightly_moco_nda.py                                  # NDA-MoCo (jigsaw) on real CIFAR-10
    python examples/lightly_moco_nda.py --model.nda none --trainer.default_root_dir lightly-moco-out   # plain MoCo
    python examples/lightly_moco_nda.py --model.nda stitch --trainer.max_steps 2000 --data.batch_size 256 \
        --trainer.devices 1 --trainer.accelerator gpu
    python examples/lightly_moco_nda.py --data.root path/to/dataset --trainer.logger TensorBoardLogger
    python examples/lightly_moco_nda.py --ckpt_path last                 # continue CHECKPOINT_DIR/last.ckpt
    python examples/lightly_moco_nda.py --config plugins/lightly/nda-moco_resnet18_cifar10.yaml --print_config

The options are Lightning's ``LightningCLI`` (``--model.*`` of ``lightly_nda.NDAMoCo``, ``--data.*``
of ``lightly_nda.ImageFolderData``, ``--trainer.*``, ``--checkpoint.*``, ``--config``). It builds what
lightly's ``examples/pytorch_lightning/moco.py`` builds (``MoCoV2Transform``, a ResNet backbone,
``MoCoProjectionHead``, momentum encoder, ``NTXentLoss`` with a memory bank), as ``NDAMoCo``: for
every image, NDA images of its own query and key views (jigsaw by default) are embedded by the
momentum encoder and become extra negatives of that image only. The recipe is
``lightly_nda/train.py``; the two-line change to lightly's own example is in docs/lightly.md.

Data: ``--data.root`` is a dataset root holding ``train/`` and ``test/`` image folders laid out as
``<class>/<image>`` (default: CIFAR-10 prepared from the offline archive, ``nda data cifar10``);
``--data.train_dir`` / ``--data.val_dir`` name the folders one by one (``--data.val_dir none``: no
validation). Labels are used only by the online linear classifier (``train_online_cls_top1``, and
``val_online_cls_top1`` on the test folder at the last step).

Output in ``--trainer.default_root_dir`` (default ``lightly-nda-out``): ``csv/version_*/`` (metrics.csv
with ``train_loss``, ``logit_pos``, ``logit_neg``, ``logit_nda``, ``momentum``, the online accuracy,
and the resolved ``config.yaml``) and ``checkpoints/`` (model, optimiser, step count and memory bank;
``--ckpt_path last`` resumes).
"""

from lightly_nda.train import main

if __name__ == "__main__":
    raise SystemExit(main())
