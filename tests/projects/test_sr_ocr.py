"""The OCR head, and SR on it through SRSemanticSegmentor."""
import math

import pytest
import torch
from torch.nn import functional as F

from detectron2.layers import ShapeSpec
from detectron2.utils.events import EventStorage

from sr_d2.modeling import SRSemanticSegmentor
from sr_d2.tools.export_plain import export_plain
from sr_ocr import OCRHead, object_representations
from twins import semantic_batch as _batch, sr_and_plain


def _models():
    return sr_and_plain("SR-OCR", "sr_ocr_R18_synthetic.py", "ocr_R18_synthetic.py")


def test_head_outputs_and_losses_by_hand():
    torch.manual_seed(0)
    shapes = {"a": ShapeSpec(channels=4, stride=4), "b": ShapeSpec(channels=6, stride=8)}
    head = OCRHead(shapes, num_classes=3, channels=8, key_channels=4, norm="", ignore_value=255).eval()
    features = {"a": torch.randn(2, 4, 8, 12), "b": torch.randn(2, 6, 4, 6)}
    final, regions = head.layers(features)
    assert final.shape == regions.shape == (2, 3, 8, 12)
    targets = torch.randint(0, 3, (2, 32, 48))
    targets[:, :2] = 255
    losses = head.losses((final, regions), targets)
    up = lambda x: F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)  # noqa: E731
    assert losses["loss_sem_seg"].item() == pytest.approx(
        F.cross_entropy(up(final), targets, ignore_index=255).item(), rel=1e-5)
    assert losses["loss_sem_seg_aux"].item() == pytest.approx(
        0.4 * F.cross_entropy(up(regions), targets, ignore_index=255).item(), rel=1e-5)
    logits, _ = head(features)
    assert torch.allclose(logits, up(final))


def test_object_representations_are_region_weighted_pixel_means():
    pixels = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 10.0], [20.0, 30.0]]]])  # (1, D=2, 2, 2)
    regions = torch.zeros(1, 2, 2, 2)  # object 0: uniform over the 4 pixels
    regions[0, 1, 0, 1] = regions[0, 1, 1, 0] = math.log(3.0)  # object 1: pixels 1, 2 weigh 3 each
    objects = object_representations(regions, pixels)
    assert objects.shape == (1, 2, 2)
    assert objects[0, 0].tolist() == pytest.approx([2.5, 15.0])
    weights = torch.tensor([1.0, 3.0, 3.0, 1.0]) / 8
    assert objects[0, 1].tolist() == pytest.approx([(weights * torch.tensor([1.0, 2, 3, 4])).sum().item(),
                                                    (weights * torch.tensor([0.0, 10, 20, 30])).sum().item()])


def test_sr_trains_the_ocr_head_with_every_loss():
    sr, _ = _models()
    assert isinstance(sr, SRSemanticSegmentor) and isinstance(sr.sem_seg_head.base_head, OCRHead)
    with EventStorage(0):
        losses = sr.train()(_batch())
    assert set(losses) == {"loss_sem_seg", "loss_sem_seg_aux", "loss_exit_seg", "loss_exit_cls",
                           "loss_sr_f", "loss_sr_l"}
    assert all(v.item() > 0 for v in losses.values())
    (losses["loss_sr_f"]).backward()
    assert sr.sem_seg_head.base_head.predictor.weight.grad.abs().sum() > 0  # SR-F reaches the final output


def test_eval_output_equals_the_plain_ocr_model_and_exports(tmp_path):
    from detectron2.checkpoint import DetectionCheckpointer

    sr, plain = _models()
    with EventStorage(0):
        sr.train()(_batch())  # BatchNorm statistics move away from their init
    DetectionCheckpointer(sr, str(tmp_path)).save("sr")
    export_plain(str(tmp_path / "sr.pth"), str(tmp_path / "plain.pth"))
    state = torch.load(tmp_path / "plain.pth", weights_only=True)["model"]
    plain.load_state_dict(state, strict=True)  # no missing or unexpected key
    with torch.no_grad():
        out_sr, out_plain = sr.eval()(_batch()), plain.eval()(_batch())
    assert all(torch.equal(a["sem_seg"], b["sem_seg"]) for a, b in zip(out_sr, out_plain))
