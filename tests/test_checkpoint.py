"""Every tool loads weights strictly: weights that do not fit, or a file that is no checkpoint, are named."""
import os
import pickle

import pytest
import torch

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate

from sr_d2.checkpoint import load_model
from sr_d2.config import load_lazy_config
from sr_d2.tools import demo, exit_confusion, export_model, visualize

CONFIG = os.path.join(os.path.dirname(__file__), "..", "configs", "synthetic", "sr_sem_seg_fpn_R18.py")


@pytest.fixture(scope="module")
def three_class_weights(tmp_path_factory):
    """Weights of the synthetic SR model with a 3-class head (the config's has 6 classes)."""
    out = tmp_path_factory.mktemp("weights")
    model = instantiate(load_lazy_config(CONFIG, ["model.sem_seg_head.num_classes=3"]).model)
    DetectionCheckpointer(model, str(out)).save("three")
    return str(out / "three.pth")


def _tool_runs(weights, out):
    """Each tool's command line on ``weights``, writing under ``out``."""
    image = os.path.join(out, "x.png")
    return {
        demo.main: ["--config-file", CONFIG, "--weights", weights, "--input", image, "--output", out + "/d"],
        export_model.main: ["--config-file", CONFIG, "--weights", weights, "--images", image,
                            "--output", out + "/m.ts"],
        visualize.main: ["--config-file", CONFIG, "--checkpoint", weights, "--output", out + "/g.png"],
        exit_confusion.main: ["--config-file", CONFIG, "--checkpoint", weights, "--classes", "a",
                              "--output", out + "/c.json"],
    }


def _refusal(tool, argv, capsys):
    """The tool's message when it stops (exit code 1 or sys.exit with a message)."""
    try:
        code = tool(argv)
    except SystemExit as e:
        return str(e.code)
    assert code == 1
    return capsys.readouterr().err


def test_every_tool_refuses_weights_of_another_class_count(three_class_weights, tmp_path, capsys):
    torch.save({}, tmp_path / "x.png")  # never read: the weights are refused first
    for tool, argv in _tool_runs(three_class_weights, str(tmp_path)).items():
        message = _refusal(tool, argv, capsys)
        assert "does not fit the config's model" in message, tool.__module__
        assert "head.predictor.weight: (3, 128, 1, 1) in the checkpoint, (6, 128, 1, 1)" in message
    assert sorted(os.listdir(tmp_path)) == ["x.png"]  # nothing written


@pytest.mark.parametrize("content", [b"not a checkpoint\n", pickle.dumps(os.getcwd, protocol=2)],
                         ids=["text", "pickled-function"])
def test_a_file_that_is_no_checkpoint_is_named_without_advice_to_load_it_unsafely(content, tmp_path):
    path = tmp_path / "weights.pth"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"weights.pth is not a checkpoint that loads") as e:
        load_model(CONFIG, str(path))
    assert "weights_only" not in str(e.value) and "trust" not in str(e.value)


def test_a_healthy_model_with_large_batchnorm_statistics_is_saved_a_non_finite_one_is_not(tmp_path):
    # #38: a stem BatchNorm's running variance passes 1e4 within 40 steps on raw 0-255 pixels
    from sr_d2.checkpoint import TrainCheckpointer

    model = instantiate(load_lazy_config(CONFIG).model)
    checkpointer = TrainCheckpointer(model, str(tmp_path))
    model.backbone.bottom_up.stem.conv1.norm.running_var.fill_(5e4)
    checkpointer.save("large")
    assert checkpointer.get_checkpoint_file() == str(tmp_path / "large.pth")
    with torch.no_grad():
        next(model.sem_seg_head.parameters())[0].fill_(float("nan"))
    checkpointer.save("broken")
    assert not (tmp_path / "broken.pth").exists()
    assert checkpointer.get_checkpoint_file() == str(tmp_path / "large.pth")


@pytest.mark.parametrize("name, content, message", [
    ("w.pyth", {"model": {}}, r"w.pyth is not pycls weights: a .pyth file holds them under 'model_state', this "
                              r"one's keys are \['model'\]"),
    ("w.pth", {"model": [1, 2]}, r"w.pth holds a list where its weights \(a dict of tensors\) should be"),
    ("w.pth", {"model": {"a": "text"}}, r"w.pth holds \['a'\], which are not arrays"),
    ("w.pkl", [1, 2], r"w.pkl is not detectron2 model-zoo weights"),
], ids=["pyth-without-model_state", "model-list", "model-of-text", "trusted-pkl-list"])
def test_weights_files_of_another_shape_are_named(name, content, message, tmp_path, monkeypatch):
    from sr_d2.checkpoint import TRUSTED_PICKLES_ENV

    path = tmp_path / name
    if name.endswith(".pkl"):
        path.write_bytes(pickle.dumps(content))
        monkeypatch.setenv(TRUSTED_PICKLES_ENV, str(path))
    else:
        torch.save(content, path)
    with pytest.raises(ValueError, match=message):
        load_model(CONFIG, str(path))


def test_an_sr_checkpoint_on_a_plain_config_names_export_plain(tmp_path):
    sr = instantiate(load_lazy_config(CONFIG).model)
    DetectionCheckpointer(sr, str(tmp_path)).save("sr")
    plain = os.path.join(os.path.dirname(CONFIG), "sem_seg_fpn_R18.py")
    with pytest.raises(ValueError, match=rf"{tmp_path}/sr.pth does not fit the config's model .*it is an SR "
                                         rf"model's checkpoint .*python -m sr_d2.tools.export_plain"):
        load_model(plain, str(tmp_path / "sr.pth"))
