"""Baseline: detectron2's PanopticDeepLab (R-18, from scratch) on the embedded synthetic panoptic set."""
import os

import torch
from omegaconf import OmegaConf

import detectron2.data.transforms as T
from detectron2.config import LazyCall as L
from detectron2.data import (
    DatasetMapper,
    MetadataCatalog,
    build_detection_test_loader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
)
from detectron2.evaluation import COCOPanopticEvaluator
from detectron2.projects.panoptic_deeplab import PanopticDeepLab, PanopticDeeplabDatasetMapper
from detectron2.projects.panoptic_deeplab.target_generator import PanopticDeepLabTargetGenerator
from detectron2.solver.build import get_default_optimizer_params
from sr_d2.model_zoo import get_config
from sr_panoptic_deeplab import panoptic_deeplab_config

_schedule = get_config("common/train.py")
lr_multiplier, train = _schedule.lr_multiplier, _schedule.train

_YAML = os.path.join(os.path.dirname(os.path.abspath(__file__)), "panoptic_deeplab_R18_synthetic.yaml")
_TRAIN, _TEST = "synthetic_panoptic_train", "synthetic_panoptic_val"

# The model is built from detectron2's yacs keys (PanopticDeepLab takes a CfgNode); the yaml
# names the classes' dataset (DATASETS.TRAIN), whose metadata the post-processing reads.
model = L(PanopticDeepLab)(cfg=L(panoptic_deeplab_config)(config_file=_YAML, opts=[]))

dataloader = OmegaConf.create()
dataloader.train = L(build_detection_train_loader)(
    dataset=L(get_detection_dataset_dicts)(names=_TRAIN),
    mapper=L(PanopticDeeplabDatasetMapper)(
        augmentations=[L(T.RandomFlip)(horizontal=True)],
        image_format="RGB",
        # detectron2's targets: semantic ids, instance centers (Gaussian heatmaps) and offsets
        panoptic_target_generator=L(PanopticDeepLabTargetGenerator)(
            ignore_label=255,
            thing_ids=list(MetadataCatalog.get(_TRAIN).thing_dataset_id_to_contiguous_id.values()),
            sigma=4,
            ignore_stuff_in_offset=True,
            small_instance_area=64,
            small_instance_weight=3,
        ),
    ),
    total_batch_size=4,
    num_workers=2,
)
dataloader.test = L(build_detection_test_loader)(
    dataset=L(get_detection_dataset_dicts)(names=_TEST, filter_empty=False),
    mapper=L(DatasetMapper)(is_train=False, augmentations=[], image_format="RGB"),
    num_workers=2,
)
dataloader.evaluator = L(COCOPanopticEvaluator)(dataset_name=_TEST)

# detectron2's Panoptic-DeepLab recipe: Adam, no weight decay; poly schedule (sr-d2's train.py)
optimizer = L(torch.optim.Adam)(
    params=L(get_default_optimizer_params)(weight_decay_norm=0.0), lr=1e-3, weight_decay=0.0
)
train.max_iter = 600
train.eval_period = 600
train.checkpointer.period = 200
train.output_dir = "output/synthetic/panoptic_deeplab_R18"
