import os

import numpy as np
import pytest
import torch
from PIL import Image

from detectron2.config import instantiate

from sr_d2.config import load_lazy_config

CONFIG = os.path.join(os.path.dirname(__file__), "..", "configs", "synthetic", "sem_seg_fpn_R18.py")


def test_overrides_apply_to_existing_keys():
    cfg = load_lazy_config(CONFIG, ["train.max_iter=7", "dataloader.train.total_batch_size=3"])
    assert cfg.train.max_iter == 7 and cfg.dataloader.train.total_batch_size == 3


def test_misspelt_override_is_an_error_with_a_suggestion():
    with pytest.raises(KeyError, match=r"train\.max_iters.*did you mean train\.max_iter"):
        load_lazy_config(CONFIG, ["train.max_iters=7"])
    with pytest.raises(KeyError, match="model.nothing.here"):
        load_lazy_config(CONFIG, ["model.nothing.here=1"])


def test_an_override_that_turns_a_number_into_text_names_the_key():
    with pytest.raises(ValueError, match=r"override optimizer.lr='abc': optimizer.lr is a number in .*\(0.02\)"):
        load_lazy_config(CONFIG, ["optimizer.lr=abc"])
    assert load_lazy_config(CONFIG, ["optimizer.lr=1"]).optimizer.lr == 1  # an int for a float is a number


def test_explicit_addition_and_list_index():
    cfg = load_lazy_config(CONFIG, ["+train.note=hello", "model.pixel_std.0=1.0"])
    assert cfg.train.note == "hello" and cfg.model.pixel_std[0] == 1.0
    with pytest.raises(KeyError):
        load_lazy_config(CONFIG, ["model.pixel_std.3=1.0"])


def test_missing_config_file_is_named():
    with pytest.raises(FileNotFoundError, match="no_such.py"):
        load_lazy_config("configs/no_such.py")


@pytest.mark.parametrize("path,classes,ignore", [
    ("configs/synthetic/sem_seg_fpn_R18.py", 6, 255),
    ("configs/camvid/sem_seg_fpn_R18.py", 11, 11),
    ("configs/synthetic/weak_sem_seg_fpn_R18.py", 6, 255),
    ("projects/SR-DeepLab/configs/deeplabv3plus_R18_camvid.py", 11, 11),
    ("projects/SR-OCR/configs/ocr_R18_camvid.py", 11, 11),
])
def test_baseline_configs_build_a_model_with_the_dataset_classes(path, classes, ignore):
    cfg = load_lazy_config(os.path.join(os.path.dirname(__file__), "..", path))
    model = instantiate(cfg.model)
    assert model.sem_seg_head.predictor.out_channels == classes
    assert model.sem_seg_head.ignore_value == ignore
    assert cfg.dataloader.evaluator.dataset_name == cfg.dataloader.test.dataset.names


SEM_SEG_CONFIGS = [
    "configs/synthetic/sem_seg_fpn_R18.py", "configs/synthetic/weak_sem_seg_fpn_R18.py",
    "configs/camvid/sem_seg_fpn_R18.py", "configs/cityscapes/sem_seg_fpn_R50.py",
    "configs/ade20k/sem_seg_fpn_R50.py", "projects/SR-DeepLab/configs/deeplabv3plus_R18_synthetic.py",
    "projects/SR-DeepLab/configs/deeplabv3plus_R50_cityscapes.py",
    "projects/SR-OCR/configs/ocr_R18_synthetic.py",
]


@pytest.mark.parametrize("path", SEM_SEG_CONFIGS)
def test_shipped_augmentations_map_an_image_and_its_labels(path, tmp_path):
    # The configs' own train and test mappers (scales, crops, flips) on a 360x480 image: labels
    # come out as int64 ids of the same size as the image, none invented.
    cfg = load_lazy_config(os.path.join(os.path.dirname(__file__), "..", path))
    ignore = cfg.model.sem_seg_head.ignore_value
    rng = np.random.default_rng(0)
    labels = rng.integers(0, cfg.model.sem_seg_head.num_classes, (360, 480))
    labels[:40] = ignore
    Image.fromarray(rng.integers(0, 256, (360, 480, 3), dtype=np.uint8)).save(tmp_path / "im.png")
    Image.fromarray(labels.astype(np.uint8)).save(tmp_path / "gt.png")
    record = {"file_name": str(tmp_path / "im.png"), "sem_seg_file_name": str(tmp_path / "gt.png"),
              "height": 360, "width": 480, "image_labels": [0]}
    for split in ("train", "test"):
        out = instantiate(cfg.dataloader[split].mapper)(record)
        assert out["sem_seg"].dtype == torch.int64
        assert out["sem_seg"].shape == out["image"].shape[1:]
        assert set(out["sem_seg"].unique().tolist()) <= set(np.unique(labels).tolist())


def test_a_yaml_config_that_would_construct_an_object_is_refused_before_it_runs(tmp_path):
    import train_net

    marker = tmp_path / "ran"
    evil = tmp_path / "evil.yaml"
    evil.write_text(f'model: !!python/object/apply:os.system ["touch {marker}"]\n')
    args = train_net.argument_parser().parse_args(["--config-file", str(evil)])
    with pytest.raises(ValueError, match=r"evil.yaml at line 1: could not determine a constructor for the tag "
                                         r"'tag:yaml.org,2002:python/object/apply:os.system'.*could run code"):
        train_net.main(args)
    assert not marker.exists()
