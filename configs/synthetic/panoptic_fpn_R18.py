"""Baseline: detectron2's PanopticFPN on the embedded synthetic scenes in COCO-panoptic format."""
from detectron2.data import MetadataCatalog

from ..common.data.panoptic import dataloader
from ..common.models.panoptic_fpn import model
from ..common.optim import optimizer
from ..common.train import lr_multiplier, train

dataloader.train.dataset.names = "synthetic_panoptic_train_separated"
dataloader.test.dataset.names = "synthetic_panoptic_val_separated"
_meta = MetadataCatalog.get(dataloader.train.dataset.names)
model.roi_heads.num_classes = len(_meta.thing_classes)
model.sem_seg_head.num_classes = len(_meta.stuff_classes)

optimizer.lr = 0.005  # from scratch, batch 4: 0.01 diverges
train.max_iter = 300
train.eval_period = 300
train.checkpointer.period = 150
train.output_dir = "output/synthetic/panoptic_fpn_R18"
