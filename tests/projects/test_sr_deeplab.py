"""SR on detectron2's DeepLabV3PlusHead through SRSemanticSegmentor: no code beyond the configs."""
import torch

from detectron2.projects.deeplab import DeepLabV3PlusHead
from detectron2.utils.events import EventStorage

from sr_d2.modeling import SRSemanticSegmentor
from sr_d2.tools.export_plain import strip_self_regulation
from twins import semantic_batch as _batch, sr_and_plain


def _models():
    return sr_and_plain("SR-DeepLab", "sr_deeplabv3plus_R18_synthetic.py", "deeplabv3plus_R18_synthetic.py")


def test_sr_trains_the_deeplab_head_with_every_loss():
    sr, _ = _models()
    assert isinstance(sr, SRSemanticSegmentor) and isinstance(sr.sem_seg_head.base_head, DeepLabV3PlusHead)
    losses = sr.train()(_batch())
    assert set(losses) == {"loss_sem_seg", "loss_exit_seg", "loss_exit_cls", "loss_sr_f", "loss_sr_l"}
    assert all(v.item() > 0 for v in losses.values())
    (losses["loss_sr_f"] + losses["loss_sr_l"]).backward()
    assert sr.backbone.stem.conv1.weight.grad.abs().sum() > 0


def test_eval_output_equals_the_plain_deeplab_model():
    sr, plain = _models()
    with EventStorage(0):
        sr.train()(_batch())  # BatchNorm statistics move away from their init
    plain.load_state_dict(strip_self_regulation(sr.state_dict()))  # strict: every key fits
    with torch.no_grad():
        out_sr, out_plain = sr.eval()(_batch()), plain.eval()(_batch())
    assert all(torch.equal(a["sem_seg"], b["sem_seg"]) for a, b in zip(out_sr, out_plain))
