"""One rule for every tool (#38): never write over a file the user gave as input, and over an
existing file only with --overwrite; the output's extension decides its format."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate
from detectron2.data import DatasetCatalog

from sr_d2.config import load_lazy_config
from sr_d2.tools import demo, exit_confusion, export_model, export_plain, plot_metrics, visualize

CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "synthetic", "sr_sem_seg_fpn_R18.py")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    out = tmp_path_factory.mktemp("weights")
    DetectionCheckpointer(instantiate(load_lazy_config(CONFIG).model), str(out)).save("model")
    return str(out / "model.pth")


def _stops(tool, argv, capsys):
    """The message with which the tool stops (sys.exit with a message, or exit code 1)."""
    try:
        code = tool(argv)
    except SystemExit as e:
        return str(e.code)
    assert code == 1, tool.__module__
    return capsys.readouterr().err


def _unchanged(path):
    with open(path, "rb") as f:
        before = f.read()

    def check():
        with open(path, "rb") as f:
            assert f.read() == before, path
    return check


def test_an_input_is_never_an_output_overwrite_or_not(weights, tmp_path, capsys):
    image = str(tmp_path / "x.png")
    Image.fromarray(np.zeros((32, 48, 3), np.uint8)).save(image)
    kept = [_unchanged(weights), _unchanged(image)]
    runs = [
        (visualize.main, ["--config-file", CONFIG, "--checkpoint", weights, "--output", weights]),
        (exit_confusion.main, ["--config-file", CONFIG, "--checkpoint", weights, "--classes", "pole",
                               "--output", weights]),
        (export_model.main, ["--config-file", CONFIG, "--weights", weights, "--images", image, "--output", image]),
        (export_model.main, ["--config-file", CONFIG, "--weights", weights, "--images", image, "--output", weights]),
        (export_plain.main, [weights, weights]),
    ]
    for tool, argv in runs:
        message = _stops(tool, argv + ["--overwrite"], capsys)
        assert "is an input" in message, (tool.__module__, message)
    for check in kept:
        check()


def test_visualize_never_draws_over_a_test_image_or_label(weights, tmp_path, capsys):
    label = DatasetCatalog.get("synthetic_sem_seg_val")[0]["sem_seg_file_name"]
    check = _unchanged(label)
    message = _stops(visualize.main, ["--config-file", CONFIG, "--checkpoint", weights, "--indices", "0",
                                      "--output", label, "--overwrite"], capsys)
    assert "is an input" in message and label in message
    check()


def test_demo_never_draws_over_its_video_or_a_users_file(weights, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    video = out / "clip.mp4"
    video.write_bytes(b"a user's video")
    message = _stops(demo.main, ["--config-file", CONFIG, "--weights", weights, "--video-input", str(video),
                                 "--output", str(out), "--overwrite"], capsys)
    assert "is an input" in message and video.read_bytes() == b"a user's video"
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((32, 48, 3), np.uint8)).save(image)
    (out / "a.png").write_bytes(b"the user's own file")
    argv = ["--config-file", CONFIG, "--weights", weights, "--input", str(image), "--output", str(out)]
    assert "pass --overwrite" in _stops(demo.main, argv, capsys)
    assert (out / "a.png").read_bytes() == b"the user's own file"
    assert demo.main(argv + ["--overwrite"]) == 0
    assert np.asarray(Image.open(out / "a.png")).shape[:2] == (32, 48)


def test_plot_metrics_keeps_the_runs_metrics_and_writes_the_format_asked(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    lines = [{"iteration": i, "total_loss": 1.0 / (i + 1), "sem_seg/mIoU": 10.0 * i} for i in range(3)]
    (run / "metrics.json").write_text("".join(json.dumps(x) + "\n" for x in lines))
    check = _unchanged(run / "metrics.json")
    message = _stops(plot_metrics.main, [str(run), "--output", str(run / "metrics.json"), "--overwrite"], capsys)
    assert "is an input" in message
    check()
    existing = tmp_path / "curves.pdf"
    existing.write_bytes(b"mine")
    assert "pass --overwrite" in _stops(plot_metrics.main, [str(run), "--output", str(existing)], capsys)
    plot_metrics.main([str(run), "--output", str(existing), "--overwrite"])
    assert existing.read_bytes().startswith(b"%PDF")  # a PDF, as its name says


def test_visualize_writes_the_format_its_output_names(weights, tmp_path):
    out = tmp_path / "grid.jpg"
    visualize.main(["--config-file", CONFIG, "--checkpoint", weights, "--indices", "0", "--output", str(out)])
    assert out.read_bytes()[:2] == b"\xff\xd8"  # JPEG, not PNG bytes under a .jpg name


def test_export_into_a_missing_folder_is_named(weights, tmp_path, capsys):
    image = str(tmp_path / "x.png")
    Image.fromarray(np.zeros((32, 48, 3), np.uint8)).save(image)
    message = _stops(export_model.main, ["--config-file", CONFIG, "--weights", weights, "--images", image,
                                         "--output", str(tmp_path / "nowhere" / "m.ts")], capsys)
    assert "nowhere" in message and "does not exist" in message
