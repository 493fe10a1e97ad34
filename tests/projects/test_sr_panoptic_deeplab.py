"""SR on Panoptic-DeepLab's semantic branch: losses, eval output equal to the plain model's, yacs build."""
import os

import pytest
import torch

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model
from detectron2.projects.panoptic_deeplab import PanopticDeepLab
from detectron2.utils.events import EventStorage

from sr_d2.engine import SRSchedule
from sr_d2.tools.export_plain import export_plain
from sr_panoptic_deeplab import SRPanopticDeepLab, panoptic_deeplab_config
from twins import configs_of, sr_and_plain

CONFIGS = configs_of("SR-PanopticDeepLab")


def _batch(n=2, h=64, w=96):
    """Panoptic-DeepLab's training inputs, as its dataset mapper gives them (random values)."""
    g = torch.Generator().manual_seed(0)
    batch = []
    for _ in range(n):
        sem_seg = torch.randint(0, 6, (h, w), generator=g)
        sem_seg[:4] = 255
        batch.append({
            "image": torch.randint(0, 256, (3, h, w), generator=g).float(), "height": h, "width": w,
            "sem_seg": sem_seg, "sem_seg_weights": 1 + 2 * torch.rand(h, w, generator=g),
            "center": torch.rand(h, w, generator=g), "center_weights": torch.ones(h, w),
            "offset": torch.randn(2, h, w, generator=g), "offset_weights": torch.ones(h, w),
        })
    return batch


def _models():
    return sr_and_plain("SR-PanopticDeepLab", "sr_panoptic_deeplab_R18_synthetic.py",
                        "panoptic_deeplab_R18_synthetic.py")


def test_sr_adds_its_losses_and_keeps_the_semantic_and_instance_losses():
    sr, plain = _models()
    assert type(plain) is PanopticDeepLab and isinstance(sr, SRPanopticDeepLab)
    sr.load_state_dict(plain.state_dict(), strict=False)  # same weights but the exits
    losses = {}
    for name, model in (("sr", sr), ("plain", plain)):
        torch.manual_seed(1)  # the same ASPP dropout
        with EventStorage(0):
            losses[name] = model.train()(_batch())
    sr_terms = {"loss_exit_seg", "loss_exit_cls", "loss_sr_f", "loss_sr_l"}
    assert set(losses["sr"]) == set(losses["plain"]) | sr_terms
    # the head's own (pixel-weighted, hard-pixel-mined) CE and the instance losses are the parent's
    for key in losses["plain"]:
        assert torch.allclose(losses["sr"][key], losses["plain"][key]), key
    assert all(v.item() > 0 for v in losses["sr"].values())
    losses["sr"]["loss_sr_f"].backward()
    assert sr.sem_seg_head.base_head.predictor.weight.grad.abs().sum() > 0  # SR-F reaches the final output
    assert sr.ins_embed_head.center_predictor.weight.grad is None  # and not the instance branch


def test_eval_output_equals_the_plain_model_and_exports(tmp_path):
    sr, plain = _models()
    with EventStorage(0):
        sr.train()(_batch())  # BatchNorm statistics move away from their init
    DetectionCheckpointer(sr, str(tmp_path)).save("sr")
    export_plain(str(tmp_path / "sr.pth"), str(tmp_path / "plain.pth"))
    plain.load_state_dict(torch.load(tmp_path / "plain.pth", weights_only=True)["model"], strict=True)
    inputs = [{k: x[k] for k in ("image", "height", "width")} for x in _batch()]
    with torch.no_grad():
        out_sr, out_plain = sr.eval()(inputs), plain.eval()(inputs)
    for a, b in zip(out_sr, out_plain):
        assert torch.equal(a["sem_seg"], b["sem_seg"])
        assert torch.equal(a["panoptic_seg"][0], b["panoptic_seg"][0])


def test_yacs_users_build_it_by_name():
    cfg = panoptic_deeplab_config(
        os.path.join(CONFIGS, "panoptic_deeplab_R18_synthetic.yaml"),
        ["MODEL.META_ARCHITECTURE", "SRPanopticDeepLab", "MODEL.DEVICE", "cpu", "MODEL.SR.RAMP", 0.5],
    )
    model = build_model(cfg)
    assert isinstance(model, SRPanopticDeepLab)
    assert list(model.self_regulation.in_features) == ["res2", "res3", "res4", "res5"]
    assert SRSchedule(cfg).scheduler(0.5) == pytest.approx(0.5)  # warm-up 0.25, then half the ramp
