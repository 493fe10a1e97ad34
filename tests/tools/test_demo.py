import os

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate

from sr_d2.config import load_lazy_config
from sr_d2.tools.demo import expand_inputs, main

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "synthetic")
SR_CONFIG = os.path.join(CONFIGS, "sr_sem_seg_fpn_R18.py")


def _weights(config, out):
    torch.manual_seed(0)
    model = instantiate(load_lazy_config(config).model)
    DetectionCheckpointer(model, str(out)).save("model")
    return str(out / "model.pth")


def _image(path, h=40, w=56):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)


@pytest.fixture(scope="module")
def sr_weights(tmp_path_factory):
    return _weights(SR_CONFIG, tmp_path_factory.mktemp("sr"))


def test_files_folders_and_globs_are_drawn_and_failures_named(sr_weights, tmp_path, capsys):
    (tmp_path / "dir").mkdir()
    for p in ("a.png", "dir/b.png", "dir/c.jpg", "g1.png", "g2.png"):
        _image(tmp_path / p)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    code = main(["--config-file", SR_CONFIG, "--weights", sr_weights, "--output", str(out), "--input",
                 str(tmp_path / "a.png"), str(tmp_path / "dir"), str(tmp_path / "g*.png"),
                 str(tmp_path / "missing.png"), str(tmp_path / "broken.png")])
    assert code == 1
    err = capsys.readouterr().err
    assert "missing.png: no such file" in err and "broken.png' cannot be read" in err
    assert sorted(os.listdir(out)) == ["a.png", "b.png", "c.png", "g1.png", "g2.png"]
    assert np.asarray(Image.open(out / "a.png")).shape == (40, 56, 3)  # at the input's own size


def test_exits_are_drawn_next_to_the_prediction(sr_weights, tmp_path):
    _image(tmp_path / "a.png")
    out = tmp_path / "out"
    assert main(["--config-file", SR_CONFIG, "--weights", sr_weights, "--output", str(out),
                 "--input", str(tmp_path / "a.png"), "--exits"]) == 0
    # the model and 4 exits, each under a 22-px title strip
    assert np.asarray(Image.open(out / "a.png")).shape == (40 + 22, 5 * 56, 3)


def test_a_video_becomes_a_drawn_video(sr_weights, tmp_path):
    writer = cv2.VideoWriter(str(tmp_path / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 5, (56, 40))
    for i in range(3):
        writer.write(np.full((40, 56, 3), 60 * i, np.uint8))
    writer.release()
    out = tmp_path / "out"
    assert main(["--config-file", SR_CONFIG, "--weights", sr_weights, "--output", str(out),
                 "--video-input", str(tmp_path / "clip.mp4")]) == 0
    video = cv2.VideoCapture(str(out / "clip.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    assert (int(video.get(cv2.CAP_PROP_FRAME_WIDTH)), int(video.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (56, 40)


def test_plain_and_panoptic_models_are_drawn(tmp_path):
    _image(tmp_path / "a.png", 64, 80)
    for config in ("sem_seg_fpn_R18.py", "panoptic_fpn_R18.py"):
        out = tmp_path / config
        weights = _weights(os.path.join(CONFIGS, config), tmp_path)
        assert main(["--config-file", os.path.join(CONFIGS, config), "--weights", weights,
                     "--output", str(out), "--input", str(tmp_path / "a.png")]) == 0
        assert np.asarray(Image.open(out / "a.png")).shape == (64, 80, 3)


def test_expand_inputs_lists_what_matched_nothing(tmp_path):
    _image(tmp_path / "x.png")
    assert expand_inputs([str(tmp_path / "x.png"), str(tmp_path / "*.jpg")]) == (
        [str(tmp_path / "x.png")], [str(tmp_path / "*.jpg")])


def test_an_output_folder_holding_inputs_is_refused_and_the_inputs_kept(sr_weights, tmp_path, capsys):
    _image(tmp_path / "x.png")
    before = (tmp_path / "x.png").read_bytes()
    code = main(["--config-file", SR_CONFIG, "--weights", sr_weights, "--output", str(tmp_path),
                 "--input", str(tmp_path)])
    assert code == 1 and "holds input images" in capsys.readouterr().err
    assert (tmp_path / "x.png").read_bytes() == before and os.listdir(tmp_path) == ["x.png"]


def test_inputs_sharing_a_stem_get_a_drawing_each(sr_weights, tmp_path, capsys):
    for name in ("x.png", "x.jpg", "y.png"):
        _image(tmp_path / name)
    out = tmp_path / "out"
    assert main(["--config-file", SR_CONFIG, "--weights", sr_weights, "--output", str(out),
                 "--input", str(tmp_path / "x.png"), str(tmp_path / "x.jpg"), str(tmp_path / "y.png")]) == 0
    assert sorted(os.listdir(out)) == ["x.jpg.png", "x.png.png", "y.png"]
    assert "wrote 3 of 3" in capsys.readouterr().out


def test_same_file_names_in_two_folders_are_refused_before_drawing(sr_weights, tmp_path, capsys):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        _image(tmp_path / folder / "x.png")
    out = tmp_path / "out"
    code = main(["--config-file", SR_CONFIG, "--weights", sr_weights, "--output", str(out),
                 "--input", str(tmp_path / "a"), str(tmp_path / "b")])
    assert code == 1 and "would both be drawn to" in capsys.readouterr().err
    assert not out.exists()


def test_an_output_that_cannot_be_a_folder_is_named(sr_weights, tmp_path, capsys):
    _image(tmp_path / "x.png")
    (tmp_path / "file").write_text("")
    code = main(["--config-file", SR_CONFIG, "--weights", sr_weights, "--output", str(tmp_path / "file" / "out"),
                 "--input", str(tmp_path / "x.png")])
    assert code == 1 and "file/out" in capsys.readouterr().err


def test_an_output_that_is_a_file_is_named_and_kept(sr_weights, tmp_path, capsys):
    _image(tmp_path / "x.png")
    (tmp_path / "out.png").write_text("mine")
    code = main(["--config-file", SR_CONFIG, "--weights", sr_weights, "--output", str(tmp_path / "out.png"),
                 "--input", str(tmp_path / "x.png")])
    assert code == 1 and "out.png is a file: --output is the folder the drawings go to" in capsys.readouterr().err
    assert (tmp_path / "out.png").read_text() == "mine"


def test_exits_of_a_plain_model_are_refused_before_drawing(tmp_path, capsys):
    _image(tmp_path / "a.png")
    config = os.path.join(CONFIGS, "sem_seg_fpn_R18.py")
    weights = _weights(config, tmp_path)
    assert main(["--config-file", config, "--weights", weights, "--output", str(tmp_path / "out"),
                 "--input", str(tmp_path / "a.png"), "--exits"]) == 1
    assert "--exits: the model (SemanticSegmentor) has no exits" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
