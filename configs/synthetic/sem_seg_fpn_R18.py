"""Baseline: detectron2's SemanticSegmentor on the embedded synthetic set (CPU, minutes)."""

from sr_d2.model_zoo import head_classes

from ..common.data.sem_seg import dataloader
from ..common.models.sem_seg_fpn import model
from ..common.optim import optimizer
from ..common.train import lr_multiplier, train

dataloader.train.dataset.names = "synthetic_sem_seg_train"
dataloader.test.dataset.names = "synthetic_sem_seg_val"
model.sem_seg_head.update(head_classes(dataloader.train.dataset.names))

train.max_iter = 800
train.eval_period = 400
train.checkpointer.period = 400
train.output_dir = "output/synthetic/sem_seg_fpn_R18"
