"""sr_panoptic_fpn_R18.py with the exits on the FPN levels p2-p5 instead of the ResNet stages: the
exits' losses then reach the bottom-up ResNet, which the RPN and ROI heads share, only through
the FPN (an option of docs/studies.md, "Toward PQ")."""
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec

from .sr_panoptic_fpn_R18 import dataloader, lr_multiplier, model, optimizer, sr_schedule, train

model.self_regulation.input_shape = {
    f"p{i + 2}": L(ShapeSpec)(channels=model.backbone.out_channels, stride=4 * 2**i) for i in range(4)
}
train.output_dir = "output/synthetic/sr_panoptic_fpn_R18_fpn_exits"
