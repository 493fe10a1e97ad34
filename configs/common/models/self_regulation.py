"""SelfRegulation for an SR meta-architecture: exits on the ResNet-18 stages, sr-d2's defaults."""
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec

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
    # SR-F and SR-L off for the first quarter of training, while the teachers learn (README);
    # read when the model is built, so an override of train.max_iter moves the warm-up with it.
    max_iter="${train.max_iter}",
    warmup=0.25,
    ramp=0.0,
    switch_on_accuracy=0.0,
)
