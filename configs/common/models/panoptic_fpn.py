"""detectron2's Panoptic-FPN (its model-zoo config) on ResNet-18 from scratch, for small images."""
from detectron2 import model_zoo
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec
from detectron2.modeling import ResNet
from sr_d2.model_zoo import PIXEL_MEAN_RGB, PIXEL_STD_RGB

model = model_zoo.get_config("common/models/panoptic_fpn.py").model

# No pretrained weights: BatchNorm trains (SyncBN on many GPUs) instead of the zoo's FrozenBN.
model.backbone.bottom_up.stem.norm = "BN"
model.backbone.bottom_up.stages = L(ResNet.make_default_stages)(depth=18, norm="BN")
model.pixel_mean = PIXEL_MEAN_RGB
model.pixel_std = PIXEL_STD_RGB
model.input_format = "RGB"

# A narrower FPN and box head than the zoo's (256 channels, 1024-d fc) for CPU training.
model.backbone.out_channels = 128
model.proposal_generator.head.in_channels = 128
model.roi_heads.box_head.input_shape = ShapeSpec(channels=128, height=7, width=7)
model.roi_heads.box_head.fc_dims = [256, 256]
model.roi_heads.box_predictor.input_shape = ShapeSpec(channels=256)
model.roi_heads.mask_head.input_shape = ShapeSpec(channels=128, height=14, width=14)
model.roi_heads.mask_head.conv_dims = [128] * 5

# Objects of a few to a hundred pixels across; fewer proposals and RoIs for CPU training.
model.proposal_generator.anchor_generator.sizes = [[8], [16], [32], [64], [128]]
model.proposal_generator.pre_nms_topk = (1000, 500)
model.proposal_generator.post_nms_topk = (500, 250)
model.roi_heads.batch_size_per_image = 128

# The merge into panoptic segments drops stuff regions under this many pixels: detectron2's 4096
# is sized for COCO (0.4 % of an 800x1333 image) and drops a fifth of a 128x160 one; 64 is
# Panoptic-DeepLab's setting for these images (set 4096 back for COCO).
model.combine_stuff_area_thresh = 64

model.roi_heads.num_classes = "???"  # thing classes, from the dataset's metadata
model.sem_seg_head.num_classes = "???"  # stuff classes + 1 (all things)
