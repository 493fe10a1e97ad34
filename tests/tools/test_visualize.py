import os

import numpy as np
import pytest
import torch
from PIL import Image

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate

from sr_d2.config import load_lazy_config
from sr_d2.tools.visualize import main

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "synthetic")


def _checkpoint(config, out, overrides):
    torch.manual_seed(0)
    model = instantiate(load_lazy_config(config, overrides).model)
    DetectionCheckpointer(model, str(out)).save("model_final")
    return str(out / "model_final.pth")


def test_grid_of_two_models_has_a_panel_per_output(tiny_synthetic, tmp_path):
    _, val = tiny_synthetic
    data = [f"dataloader.test.dataset.names={val}"]
    sr_config = os.path.join(CONFIGS, "sr_sem_seg_fpn_R18.py")
    base_config = os.path.join(CONFIGS, "sem_seg_fpn_R18.py")
    (tmp_path / "sr").mkdir(), (tmp_path / "base").mkdir()
    sr = _checkpoint(sr_config, tmp_path / "sr", data + ["sr_schedule.scheduler.warmup=0"])
    base = _checkpoint(base_config, tmp_path / "base", data)
    out = tmp_path / "grid" / "grid.png"
    main(["--config-file", sr_config, "--checkpoint", sr, "--compare", base_config, base,
          "--indices", "0", "3", "--output", str(out), *data, "sr_schedule.scheduler.warmup=0"])
    grid = np.asarray(Image.open(out))
    # columns: input, truth, SR prediction, errors, 4 exits, baseline prediction, errors; 64x64
    # panels under a 22-px title strip
    assert grid.shape == (2 * (64 + 22), 10 * 64, 3)
    assert grid.std() > 0


def test_bad_index_or_checkpoint_is_named(tiny_synthetic, tmp_path):
    _, val = tiny_synthetic
    config = os.path.join(CONFIGS, "sem_seg_fpn_R18.py")
    data = [f"dataloader.test.dataset.names={val}"]
    with pytest.raises(SystemExit, match="nope.pth"):
        main(["--config-file", config, "--checkpoint", str(tmp_path / "nope.pth"),
              "--output", str(tmp_path / "g.png"), *data])
    ckpt = _checkpoint(config, tmp_path, data)
    with pytest.raises(SystemExit, match=r"\[9\].*4 images"):
        main(["--config-file", config, "--checkpoint", ckpt, "--indices", "9",
              "--output", str(tmp_path / "g.png"), *data])
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("output, message", [
    ("", r"--output .* is a folder: give the image file to write \(e.g. .*/grid.png\)"),
    ("grid.tmp", r"--output .*grid.tmp: .tmp is not an image format; end it in .png or .jpg"),
])
def test_an_output_that_is_no_image_file_is_named_before_the_models_load(tmp_path, output, message):
    config = os.path.join(CONFIGS, "sem_seg_fpn_R18.py")
    with pytest.raises(SystemExit, match=message):  # the checkpoint is not even read
        main(["--config-file", config, "--checkpoint", str(tmp_path / "nope.pth"),
              "--output", str(tmp_path / output)])


def test_an_exif_rotated_jpeg_is_drawn_as_training_reads_it(tiny_synthetic, tmp_path):
    from detectron2.data import MetadataCatalog

    from sr_d2.data.datasets import register_sem_seg_folder

    (tmp_path / "img").mkdir(), (tmp_path / "gt").mkdir()
    stored = Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8))
    exif = stored.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees on display, so 48 wide and 64 high as loaded
    stored.save(tmp_path / "img" / "a.jpg", exif=exif)
    Image.fromarray(np.zeros((64, 48), np.uint8)).save(tmp_path / "gt" / "a.png")
    classes = MetadataCatalog.get(tiny_synthetic[1]).stuff_classes
    register_sem_seg_folder("test_exif_rotated", str(tmp_path / "img"), str(tmp_path / "gt"), classes,
                            image_ext=".jpg")
    config = os.path.join(CONFIGS, "sem_seg_fpn_R18.py")
    data = ["dataloader.test.dataset.names=test_exif_rotated", "dataloader.test.mapper.augmentations=[]"]
    ckpt = _checkpoint(config, tmp_path, data)
    main(["--config-file", config, "--checkpoint", ckpt, "--indices", "0", "--output", str(tmp_path / "g.png"),
          *data])
    # input, truth, prediction, errors: 48x64 panels under a 22-px title strip
    assert np.asarray(Image.open(tmp_path / "g.png")).shape == (64 + 22, 4 * 48, 3)


def test_a_model_of_another_class_count_is_refused_before_drawing(tiny_synthetic, tmp_path):
    _, val = tiny_synthetic
    data = [f"dataloader.test.dataset.names={val}"]
    config = os.path.join(CONFIGS, "sem_seg_fpn_R18.py")
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    six = _checkpoint(config, tmp_path / "a", data)
    seven_config = tmp_path / "seven.py"  # the baseline with one class more, as a user's own config
    seven_config.write_text(f"from sr_d2.config import load_lazy_config\n"
                            f"_cfg = load_lazy_config({config!r}, ['model.sem_seg_head.num_classes=7'])\n"
                            f"globals().update(_cfg)\n")
    seven = _checkpoint(str(seven_config), tmp_path / "b", [])
    with pytest.raises(SystemExit, match=r"seven predicts 7 classes.*drawn with .*6 \(sky, "):
        main(["--config-file", config, "--checkpoint", six, "--compare", str(seven_config), seven,
              "--output", str(tmp_path / "g.png"), *data])
    assert not (tmp_path / "g.png").exists()
    with pytest.raises(SystemExit):  # argparse: a scale of 0 would draw nothing
        main(["--config-file", config, "--checkpoint", six, "--scale", "0", "--output", str(tmp_path / "g.png")])
