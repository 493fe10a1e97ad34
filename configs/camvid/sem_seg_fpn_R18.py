"""Baseline: detectron2's SemanticSegmentor on CamVid (11 classes), from scratch."""
import detectron2.data.transforms as T
from detectron2.config import LazyCall as L
from sr_d2.model_zoo import head_classes

from ..common.data.sem_seg import dataloader, scale_crop_flip
from ..common.models.sem_seg_fpn import model
from ..common.optim import optimizer
from ..common.train import lr_multiplier, train

dataloader.train.dataset.names = "camvid_sem_seg_train"
# Choose on val, score test once per study: each evaluation scores both, apart ("camvid_sem_seg_val/sem_seg/mIoU").
dataloader.test.dataset.names = ["camvid_sem_seg_val", "camvid_sem_seg_test"]
model.sem_seg_head.update(head_classes(dataloader.train.dataset.names))

# 480x360 images: random scale around 240 px short side, 224x288 crops; evaluation at 240.
dataloader.train.mapper.augmentations = scale_crop_flip([192, 224, 240, 256, 288], crop_size=(224, 288))
dataloader.train.total_batch_size = 4
dataloader.test.mapper.augmentations = [L(T.ResizeShortestEdge)(short_edge_length=240)]

train.max_iter = 3000
train.eval_period = 1000
train.checkpointer.period = 1000
train.output_dir = "output/camvid/sem_seg_fpn_R18"
