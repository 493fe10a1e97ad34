import os

import pytest
import torch

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate

from sr_d2.config import load_lazy_config
from sr_d2.tools.export_plain import export_plain, main

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "synthetic")


@pytest.fixture(scope="module")
def sr_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("sr")
    torch.manual_seed(0)
    sr_config = os.path.join(CONFIGS, "sr_sem_seg_fpn_R18.py")
    model = instantiate(load_lazy_config(sr_config).model)
    model.train()(  # one training forward, so BatchNorm statistics differ from their init
        [{"image": torch.rand(3, 64, 64) * 255, "sem_seg": torch.randint(0, 6, (64, 64))}]
    )
    DetectionCheckpointer(model, str(out)).save("model_final", iteration=9)
    return model, str(out / "model_final.pth")


def test_exported_checkpoint_loads_strictly_and_predicts_identically(sr_checkpoint, tmp_path):
    sr_model, src = sr_checkpoint
    dst = str(tmp_path / "plain.pth")
    assert export_plain(src, dst) == len(sr_model.self_regulation.state_dict())
    plain = instantiate(load_lazy_config(os.path.join(CONFIGS, "sem_seg_fpn_R18.py")).model)
    plain.load_state_dict(torch.load(dst, weights_only=True)["model"], strict=True)
    batch = [{"image": torch.rand(3, 64, 96) * 255, "height": 64, "width": 96}]
    with torch.no_grad():
        expected, got = sr_model.eval()(batch), plain.eval()(batch)
    assert torch.equal(expected[0]["sem_seg"], got[0]["sem_seg"])


def test_refuses_to_overwrite_or_to_export_a_plain_checkpoint(sr_checkpoint, tmp_path):
    _, src = sr_checkpoint
    dst = tmp_path / "plain.pth"
    dst.write_bytes(b"keep me")
    with pytest.raises(SystemExit, match="--overwrite"):
        main([src, str(dst)])
    assert dst.read_bytes() == b"keep me"
    main([src, str(dst), "--overwrite"])
    with pytest.raises(ValueError, match="not an SR model"):
        export_plain(str(dst), str(tmp_path / "again.pth"))
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        export_plain(str(tmp_path / "nope.pth"), str(tmp_path / "x.pth"))
