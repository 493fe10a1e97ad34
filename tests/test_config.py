import os

import pytest

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
])
def test_baseline_configs_build_a_model_with_the_dataset_classes(path, classes, ignore):
    cfg = load_lazy_config(os.path.join(os.path.dirname(__file__), "..", path))
    model = instantiate(cfg.model)
    assert model.sem_seg_head.predictor.out_channels == classes
    assert model.sem_seg_head.ignore_value == ignore
    assert cfg.dataloader.evaluator.dataset_name == cfg.dataloader.test.dataset.names
