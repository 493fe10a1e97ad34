import json
import math
import os

import pytest
import torch

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate
from detectron2.data import MetadataCatalog
from detectron2.evaluation import inference_on_dataset

from sr_d2.config import load_lazy_config
from sr_d2.evaluation import SRSemSegEvaluator
from sr_d2.tools.exit_confusion import confusion_matrices, describe, main
from sr_d2.tools.export_plain import strip_self_regulation

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "synthetic")


def test_describe_reads_rows_and_columns():
    # rows: labelled a, b, c; columns: predicted
    counts = {"sem_seg": torch.tensor([[6, 4, 0], [2, 8, 0], [0, 0, 0]])}
    table = describe(counts, ["a", "b", "c"], ["a", "c"], top=2)
    a = table["a"]["sem_seg"]
    assert a["IoU"] == pytest.approx(100 * 6 / (10 + 8 - 6), abs=0.05)
    assert a["labelled as"] == {"a": 60.0, "b": 40.0}
    assert a["predicted from"] == {"a": 75.0, "b": 25.0}
    c = table["c"]["sem_seg"]  # neither labelled nor predicted
    assert math.isnan(c["IoU"]) and c["labelled as"] == {} and c["predicted from"] == {}
    with pytest.raises(KeyError, match="'d'"):
        describe(counts, ["a", "b", "c"], ["d"])


def test_final_output_matches_the_evaluator_and_every_exit_counts_every_labelled_pixel(
    tiny_synthetic, tmp_path
):
    _, val = tiny_synthetic
    overrides = [f"dataloader.test.dataset.names={val}", "sr_schedule.scheduler.warmup=0"]
    config = os.path.join(CONFIGS, "sr_sem_seg_fpn_R18.py")
    cfg = load_lazy_config(config, overrides)
    torch.manual_seed(0)
    model = instantiate(cfg.model).eval()
    counts = confusion_matrices(model, cfg)
    assert set(counts) == {"sem_seg", *model.self_regulation.in_features}

    evaluator = SRSemSegEvaluator(val, distributed=False)
    results = inference_on_dataset(model, instantiate(cfg.dataloader.test), evaluator)["sem_seg"]
    m = counts["sem_seg"].double()
    iou = 100 * m.diag() / (m.sum(0) + m.sum(1) - m.diag())
    names = MetadataCatalog.get(val).stuff_classes
    for c, name in enumerate(names):
        expected = results[f"IoU-{name}"]
        assert (math.isnan(expected) and math.isnan(iou[c])) or iou[c] == pytest.approx(expected)
    labelled = m.sum(1)
    for output, matrix in counts.items():
        assert torch.equal(matrix.sum(1), labelled.long()), output

    DetectionCheckpointer(model, str(tmp_path)).save("model_final")
    out = tmp_path / "conf" / "confusion.json"
    main(["--config-file", config, "--checkpoint", str(tmp_path / "model_final.pth"),
          "--classes", names[0], "--output", str(out), *overrides])
    written = json.loads(out.read_text())
    assert written["confusion"]["sem_seg"] == counts["sem_seg"].tolist()
    assert set(written["describe"][names[0]]) == set(counts)


def test_a_plain_model_has_only_its_output_and_it_equals_the_sr_models(tiny_synthetic):
    _, val = tiny_synthetic
    data = [f"dataloader.test.dataset.names={val}"]
    torch.manual_seed(0)
    sr_cfg = load_lazy_config(os.path.join(CONFIGS, "sr_sem_seg_fpn_R18.py"), data)
    sr_model = instantiate(sr_cfg.model).eval()
    plain_cfg = load_lazy_config(os.path.join(CONFIGS, "sem_seg_fpn_R18.py"), data)
    plain = instantiate(plain_cfg.model).eval()
    plain.load_state_dict(strip_self_regulation(sr_model.state_dict()))  # strict: every key fits
    counts = confusion_matrices(plain, plain_cfg)
    assert set(counts) == {"sem_seg"}
    assert torch.equal(counts["sem_seg"], confusion_matrices(sr_model, sr_cfg)["sem_seg"])


def test_unknown_class_or_checkpoint_is_named(tiny_synthetic, tmp_path):
    _, val = tiny_synthetic
    config = os.path.join(CONFIGS, "sem_seg_fpn_R18.py")
    data = [f"dataloader.test.dataset.names={val}"]
    with pytest.raises(SystemExit, match="nope.pth"):
        main(["--config-file", config, "--checkpoint", str(tmp_path / "nope.pth"),
              "--classes", "x", *data])
    torch.manual_seed(0)
    model = instantiate(load_lazy_config(config, data).model)
    DetectionCheckpointer(model, str(tmp_path)).save("m")
    with pytest.raises(SystemExit, match="Lamppost"):
        main(["--config-file", config, "--checkpoint", str(tmp_path / "m.pth"),
              "--classes", "Lamppost",
              "--output", str(tmp_path / "c.json"), *data])
    assert not (tmp_path / "c.json").exists()
