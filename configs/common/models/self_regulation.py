"""SelfRegulation for an SR meta-architecture (exits on the ResNet-18 stages) and its schedule."""
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec

from sr_d2.engine import SR_SCHEDULE, SRSchedule
from sr_d2.modeling import SR_PRESETS, SelfRegulation

self_regulation = L(SelfRegulation)(
    # Stages of the ResNet under the FPN (R-50: channels 256, 512, 1024, 2048).
    input_shape={
        f"res{i + 2}": L(ShapeSpec)(channels=c, stride=4 * 2**i)
        for i, c in enumerate([64, 128, 256, 512])
    },
    num_classes="${..sem_seg_head.num_classes}",
    ignore_value="${..sem_seg_head.ignore_value}",
    **SR_PRESETS["sr-d2"],
    final_classes=None,  # the exits' classes are the head's (SRPanopticFPN: see full-class exits)
)
# Trainer hook: SR-F and SR-L off for the first quarter of train.max_iter, while the teachers learn.
sr_schedule = L(SRSchedule)(**SR_SCHEDULE)
