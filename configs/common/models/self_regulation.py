"""SelfRegulation for an SR meta-architecture (exits on the ResNet-18 stages) and its schedule."""
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec

from sr_d2.engine import SR_SCHEDULE, SRSchedule, sr_scale_schedule
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
# Trainer hook: SR-F's and SR-L's scale as an fvcore ParamScheduler of iteration / max_iter:
# 0 for the first quarter of training, while the teachers learn, then 1.
sr_schedule = L(SRSchedule)(scheduler=L(sr_scale_schedule)(**SR_SCHEDULE), switch_on_accuracy=0.0)
