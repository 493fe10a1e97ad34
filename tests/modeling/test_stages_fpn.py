import torch

from detectron2.config import get_cfg
from detectron2.layers import ShapeSpec
from detectron2.modeling import FPN, ResNet, build_backbone
from detectron2.modeling.backbone.fpn import LastLevelMaxPool
from detectron2.modeling.backbone.resnet import BasicStem

from sr_d2.modeling import StagesFPN

STAGES = ["res2", "res3", "res4", "res5"]


def _fpn(cls, fuse_type="sum"):
    torch.manual_seed(0)
    resnet = ResNet(BasicStem(3, 64, norm="BN"), ResNet.make_default_stages(18, norm="BN"), out_features=STAGES)
    return cls(bottom_up=resnet, in_features=STAGES, out_channels=32, top_block=LastLevelMaxPool(),
               fuse_type=fuse_type).eval()


def test_pyramid_is_detectron2s_fpn_bit_for_bit_and_the_stages_come_with_it():
    for fuse_type in ("sum", "avg"):
        fpn, stages_fpn = _fpn(FPN, fuse_type), _fpn(StagesFPN, fuse_type)
        assert list(fpn.state_dict()) == list(stages_fpn.state_dict())  # checkpoints load either way
        x = torch.rand(2, 3, 64, 96)
        with torch.no_grad():
            expected, got = fpn(x), stages_fpn(x)
            stages = fpn.bottom_up(x)
        assert sorted(got) == sorted([*expected, *STAGES])
        for name, value in {**expected, **stages}.items():
            assert torch.equal(got[name], value), (fuse_type, name)
    shapes = stages_fpn.output_shape()
    assert shapes["res3"] == ShapeSpec(channels=128, stride=8) and shapes["p3"] == ShapeSpec(channels=32, stride=8)


def test_yacs_builder():
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.NAME = "build_resnet_stages_fpn_backbone"
    cfg.MODEL.RESNETS.OUT_FEATURES = cfg.MODEL.FPN.IN_FEATURES = STAGES
    backbone = build_backbone(cfg)
    assert isinstance(backbone, StagesFPN)
    assert sorted(backbone.output_shape()) == ["p2", "p3", "p4", "p5", "p6", *STAGES]
