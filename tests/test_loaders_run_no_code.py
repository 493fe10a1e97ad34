"""No loader in sr-d2 runs code a weights file holds (#38): every path loads weights only, and a
``.pkl`` (unpickled) only when $SR_D2_TRUSTED_PICKLES names it."""
import os
import pickle

import numpy as np
import pytest
import torch

from detectron2.config import instantiate

import train_net
from sr_d2.checkpoint import TRUSTED_PICKLES_ENV, EvalCheckpointer
from sr_d2.config import load_lazy_config
from sr_d2.tools import demo, exit_confusion, export_model, export_plain, visualize

from test_train_net import CONFIG, _args


class _Payload:
    """Unpickled, it creates the file at ``marker``: the code a hostile checkpoint would run."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.fixture
def payloads(tmp_path):
    """(marker path, a .pth and a .pkl whose loading would create the marker)."""
    marker = str(tmp_path / "code_ran")
    pth, pkl = str(tmp_path / "weights.pth"), str(tmp_path / "weights.pkl")
    torch.save({"model": {"w": torch.zeros(1)}, "extra": _Payload(marker)}, pth)
    with open(pkl, "wb") as f:
        pickle.dump({"model": {"w": np.zeros(1)}, "__author__": "x", "extra": _Payload(marker)}, f)
    return marker, pth, pkl


def _stops(call, capsys):
    """The message with which ``call`` stops: an exception's, sys.exit's or stderr with exit 1."""
    try:
        code = call()
    except SystemExit as e:
        return str(e.code)
    except (ValueError, RuntimeError, FileNotFoundError) as e:
        return str(e)
    assert code == 1
    return capsys.readouterr().err


def test_the_payloads_run_their_code_when_unpickled(payloads):
    marker, _, pkl = payloads
    with open(pkl, "rb") as f:
        pickle.load(f)
    assert os.path.exists(marker)  # the payload is real


def test_training_evaluation_and_resume_refuse_both_payloads(payloads, tiny_synthetic, tmp_path, capsys):
    marker, pth, pkl = payloads
    for weights in (pth, pkl):
        for extra in ([f"train.init_checkpoint={weights}"], ["--eval-only", f"train.init_checkpoint={weights}"]):
            out = str(tmp_path / f"run{len(os.listdir(tmp_path))}")
            message = _stops(lambda: train_net.main(_args(tiny_synthetic, out, *extra)), capsys)
            assert weights in message, message
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    os.link(pth, resumed / "model_0000001.pth")
    (resumed / "last_checkpoint").write_text("model_0000001.pth")
    message = _stops(lambda: train_net.main(_args(tiny_synthetic, str(resumed), "--resume")), capsys)
    assert "model_0000001.pth" in message
    assert not os.path.exists(marker)


def test_every_tool_refuses_both_payloads(payloads, tmp_path, capsys):
    marker, pth, pkl = payloads
    image = str(tmp_path / "x.png")
    for weights in (pth, pkl):
        runs = {
            demo.main: ["--config-file", CONFIG, "--weights", weights, "--input", image, "--output", str(tmp_path / "d")],
            export_model.main: ["--config-file", CONFIG, "--weights", weights, "--images", image,
                                "--output", str(tmp_path / "m.ts")],
            visualize.main: ["--config-file", CONFIG, "--checkpoint", weights, "--output", str(tmp_path / "g.png")],
            exit_confusion.main: ["--config-file", CONFIG, "--checkpoint", weights, "--classes", "a",
                                  "--output", str(tmp_path / "c.json")],
            export_plain.main: [weights, str(tmp_path / "plain.pth")],
        }
        for tool, argv in runs.items():
            message = _stops(lambda: tool(argv), capsys)
            assert "weights." in message, (tool.__module__, message)
    assert not os.path.exists(marker)


def test_a_pkl_named_in_the_trusted_list_loads(tmp_path, monkeypatch):
    model = instantiate(load_lazy_config(CONFIG).model)
    pkl = str(tmp_path / "zoo.pkl")
    with open(pkl, "wb") as f:  # detectron2's model-zoo format: numpy arrays, "__author__"
        pickle.dump({"model": {k: v.numpy() for k, v in model.state_dict().items()}, "__author__": "zoo"}, f)
    with pytest.raises(ValueError, match=f"{TRUSTED_PICKLES_ENV}={pkl}"):
        EvalCheckpointer(model).load(pkl)
    monkeypatch.setenv(TRUSTED_PICKLES_ENV, os.pathsep.join(["/elsewhere.pkl", pkl]))
    EvalCheckpointer(model).load(pkl)
