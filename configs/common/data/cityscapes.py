"""Cityscapes (fine, 19 classes), as detectron2's Cityscapes DeepLab recipe prepares it."""
import detectron2.data.transforms as T
from detectron2.config import LazyCall as L

from .sem_seg import dataloader, scale_crop_flip

dataloader.train.dataset.names = "cityscapes_fine_sem_seg_train"
dataloader.test.dataset.names = "cityscapes_fine_sem_seg_val"
dataloader.train.mapper.image_format = "BGR"  # detectron2's pretrained R-50
dataloader.train.mapper.augmentations = scale_crop_flip(
    [512, 768, 1024, 1280, 1536, 1792, 2048], crop_size=(512, 1024), max_size=4096
)
dataloader.test.mapper.augmentations = [L(T.ResizeShortestEdge)(short_edge_length=1024, max_size=2048)]
dataloader.train.total_batch_size = 16
