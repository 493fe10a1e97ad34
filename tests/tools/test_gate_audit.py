import json
import os

import numpy as np
import pytest
import torch

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate
from detectron2.data import DatasetCatalog

from sr_d2.config import load_lazy_config
from sr_d2.data import read_label_map
from sr_d2.tools.gate_audit import gate_counts, main, summary

CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "synthetic", "sr_weak_sem_seg_fpn_R18.py")
TINY_WEAK = "test_tiny_weak_train"


def test_gate_counts_split_the_pixels_labelled_in_both_by_kept_or_dropped_and_right_or_wrong():
    teacher = torch.tensor([[0, 1, 2], [1, 1, 0]])
    pseudo = torch.tensor([[0, 1, 1], [2, 9, 0]])  # 9: void (3 classes)
    true = torch.tensor([[0, 2, 1], [2, 1, 9]])
    # (0,0) kept right; (0,1) kept wrong; (0,2) dropped right; (1,0) dropped right; the rest void
    assert gate_counts(teacher, pseudo, true, num_classes=3).tolist() == [[1, 1], [2, 0]]


def test_summary_gives_each_share_of_its_own_pixels():
    shares = summary(torch.tensor([[60, 20], [5, 15]]))  # kept right, kept wrong; dropped right, wrong
    assert shares == {"pixels": 100, "dropped": 20.0, "wrong": 35.0, "wrong among kept": 25.0,
                      "wrong among dropped": 75.0, "wrong ones dropped": pytest.approx(42.86),
                      "right ones dropped": pytest.approx(7.69)}


def test_audit_counts_every_pixel_labelled_in_both_masks_of_the_weak_set(tiny_synthetic, tmp_path, capsys):
    from sr_d2.data.datasets.synthetic_weak import register_synthetic_weak

    train, val = tiny_synthetic  # the same six scenes as the weak set of the same seed and size
    if TINY_WEAK not in DatasetCatalog.list():
        register_synthetic_weak(TINY_WEAK, os.environ["SR_D2_CACHE"], num_images=6, height=64, width=64, seed=0)
    overrides = [f"dataloader.train.dataset.names={TINY_WEAK}", "dataloader.test.num_workers=0"]
    torch.manual_seed(0)
    model = instantiate(load_lazy_config(CONFIG, overrides).model)
    DetectionCheckpointer(model, str(tmp_path)).save("model_final")
    out = tmp_path / "audit" / "gate.json"
    main(["--config-file", CONFIG, "--checkpoint", str(tmp_path / "model_final.pth"), "--true", train,
          "--output", str(out), *overrides])
    got = json.loads(out.read_text())

    both = wrong = 0  # from the files alone
    true_files = {os.path.basename(d["file_name"]): d["sem_seg_file_name"] for d in DatasetCatalog.get(train)}
    for d in DatasetCatalog.get(TINY_WEAK):
        pseudo = read_label_map(d["sem_seg_file_name"]).astype(np.int64)
        true = read_label_map(true_files[os.path.basename(d["file_name"])]).astype(np.int64)
        labelled = (pseudo < 6) & (true < 6)
        both += int(labelled.sum())
        wrong += int((pseudo != true)[labelled].sum())
    assert got["pixels"] == both == sum(map(sum, got["counts"]))
    assert got["wrong"] == pytest.approx(100 * wrong / both, abs=0.01)
    assert 0 < wrong < both  # the pseudo masks are noisy, not all wrong
    assert f"pixels {both}" in capsys.readouterr().out

    with pytest.raises(SystemExit, match="--teacher 'res9' is not one of the exits"):
        main(["--config-file", CONFIG, "--checkpoint", str(tmp_path / "model_final.pth"), "--true", train,
              "--teacher", "res9", *overrides])
    with pytest.raises(SystemExit, match=f"images of {TINY_WEAK} are not in {val}"):  # val: 4 scenes
        main(["--config-file", CONFIG, "--checkpoint", str(tmp_path / "model_final.pth"), "--true", val, *overrides])
