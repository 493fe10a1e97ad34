import os

import numpy as np
import pytest
import torch
from PIL import Image

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate
from detectron2.utils.events import EventStorage

from sr_d2.config import load_lazy_config
from sr_d2.tools.export_model import export_model, main

SR_CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "synthetic", "sr_sem_seg_fpn_R18.py")


@pytest.fixture(scope="module")
def sr_checkpoint(tmp_path_factory):
    """An SR model after one training step (BatchNorm statistics moved), and 3 sample images."""
    out = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    model = instantiate(load_lazy_config(SR_CONFIG).model)
    batch = [{"image": torch.rand(3, 64, 64) * 255, "sem_seg": torch.randint(0, 6, (64, 64))}] * 2
    with EventStorage(0):
        model.train()(batch)
    DetectionCheckpointer(model, str(out)).save("model_final")
    rng = np.random.default_rng(0)
    images = []
    for i in range(3):
        images.append(str(out / f"{i}.png"))
        Image.fromarray(rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)).save(images[-1])
    return str(out / "model_final.pth"), images


def test_torchscript_export_predicts_what_the_eager_model_predicts(sr_checkpoint, tmp_path):
    weights, images = sr_checkpoint
    out = str(tmp_path / "model.ts")
    result = export_model(SR_CONFIG, weights, images, out, repeats=1)
    assert result["max_abs_diff"] < 1e-4
    assert result["eager_s"] > 0 and result["exported_s"] > 0
    traced = torch.jit.load(out)
    assert not any(name.startswith("model.self_regulation") for name, _ in traced.named_parameters())


def test_bad_inputs_are_named(sr_checkpoint, tmp_path, capsys):
    weights, images = sr_checkpoint
    assert main(["--config-file", SR_CONFIG, "--weights", weights, "--images", "nope.png",
                 "--output", str(tmp_path / "m.ts")]) == 1
    assert "nope.png" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["--config-file", SR_CONFIG, "--weights", weights, "--images", str(tmp_path / "empty"),
                 "--output", str(tmp_path / "m.ts")]) == 1
    assert "empty is a folder: give image files (e.g. " in capsys.readouterr().err
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(tmp_path / "small.png")
    with pytest.raises(ValueError, match="sizes"):
        export_model(SR_CONFIG, weights, [images[0], str(tmp_path / "small.png")], str(tmp_path / "m.ts"))
    assert not os.path.exists(tmp_path / "m.ts")


def _detectron2_is_v06() -> bool:
    from detectron2.utils import comm

    return not hasattr(comm, "create_local_process_group")  # added after v0.6


def test_onnx_export_when_the_deploy_extra_is_installed(sr_checkpoint, tmp_path):
    pytest.importorskip("onnxruntime")  # CI installs the extra with detectron2 main
    weights, images = sr_checkpoint
    result = export_model(SR_CONFIG, weights, images, str(tmp_path / "model.onnx"), fmt="onnx", repeats=1)
    assert result["max_abs_diff"] < 1e-3


def test_torch_export_program_is_saved_reloaded_and_predicts_as_eager(sr_checkpoint, tmp_path):
    weights, images = sr_checkpoint
    out = str(tmp_path / "model.pt2")
    if _detectron2_is_v06():  # its ImageList padding is data-dependent: named, nothing written
        with pytest.raises(ValueError, match=r"torch.export cannot capture this model.*--format torchscript"):
            export_model(SR_CONFIG, weights, images, out, fmt="export", repeats=1)
        assert not os.path.exists(out) and not os.path.exists(out + ".tmp")
        return
    result = export_model(SR_CONFIG, weights, images, out, fmt="export", repeats=1)
    assert result["max_abs_diff"] < 1e-4
    program = torch.export.load(out)
    assert not any(name.startswith("model.self_regulation") for name in program.state_dict)


def test_onnx_without_the_deploy_extra_is_named_before_the_model_loads(tmp_path, monkeypatch, capsys):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime"
                        else find_spec(name, *a))
    assert main(["--config-file", SR_CONFIG, "--weights", str(tmp_path / "nope.pth"), "--images", "a.png",
                 "--output", str(tmp_path / "m.onnx"), "--format", "onnx"]) == 1
    err = capsys.readouterr().err
    assert "--format onnx needs" in err and "onnxruntime" in err and "pip install -e '.[deploy]'" in err
