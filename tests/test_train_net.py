"""train_net.py's own functions on a tiny synthetic set: train, checkpoint, resume, evaluate."""
import json
import os

import pytest
import torch


import train_net

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "configs", "synthetic")
CONFIG = os.path.join(CONFIGS, "sem_seg_fpn_R18.py")
SR_CONFIG = os.path.join(CONFIGS, "sr_sem_seg_fpn_R18.py")


def _args(tiny, output_dir, *extra, max_iter=4, config=CONFIG):
    train_name, val_name = tiny
    opts = [
        f"dataloader.train.dataset.names={train_name}",
        f"dataloader.test.dataset.names={val_name}",
        "dataloader.train.total_batch_size=2",
        "dataloader.train.num_workers=0",
        "dataloader.test.num_workers=0",
        f"train.max_iter={max_iter}",
        "train.eval_period=0",
        "train.checkpointer.period=2",
        "train.log_period=1",
        "train.device=cpu",
        f"train.output_dir={output_dir}",
    ]
    flags = [a for a in extra if a.startswith("--")]
    opts += [a for a in extra if not a.startswith("--")]
    return train_net.argument_parser().parse_args(["--config-file", config, *flags, *opts])


def _metrics(output_dir):
    with open(os.path.join(output_dir, "metrics.json")) as f:
        return [json.loads(line) for line in f]


def _iterations(output_dir):
    """Iterations of the training steps logged in metrics.json."""
    return [m["iteration"] for m in _metrics(output_dir) if "total_loss" in m]


@pytest.fixture(scope="module")
def trained(tiny_synthetic, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("run"))
    results = train_net.main(_args(tiny_synthetic, out))
    return out, results


def test_training_writes_checkpoints_logs_and_evaluates(trained):
    out, results = trained
    assert {"model_0000001.pth", "model_0000003.pth", "model_final.pth", "last_checkpoint",
            "config.yaml"} <= set(os.listdir(out))
    assert _iterations(out) == [0, 1, 2, 3]
    evaluations = [m for m in _metrics(out) if "sem_seg/mIoU" in m]
    assert [m["iteration"] for m in evaluations] == [4]  # EvalHook after the last step
    assert evaluations[0]["sem_seg/mIoU"] == pytest.approx(results["sem_seg"]["mIoU"])
    assert set(results["sem_seg"]) >= {"fwIoU", "pACC", "IoU-pole", "IoU-sign"}


def test_resume_continues_from_the_last_checkpoint(trained, tiny_synthetic):
    out, _ = trained
    train_net.main(_args(tiny_synthetic, out, "--resume", max_iter=6))
    assert _iterations(out) == [0, 1, 2, 3, 4, 5]  # started at 4, after model_final (iter 3)


def test_eval_only_scores_given_weights_as_training_did(trained, tiny_synthetic, tmp_path):
    out, _ = trained
    weights = os.path.join(out, "model_final.pth")
    results = train_net.main(
        _args(tiny_synthetic, str(tmp_path), "--eval-only", f"train.init_checkpoint={weights}")
    )
    last = [m for m in _metrics(out) if "sem_seg/mIoU" in m][-1]  # of the run that wrote model_final
    assert results["sem_seg"]["mIoU"] == pytest.approx(last["sem_seg/mIoU"])
    assert results["sem_seg"]["BF"] == pytest.approx(last["sem_seg/BF"])


def test_eval_only_without_weights_is_refused(tiny_synthetic, tmp_path):
    with pytest.raises(ValueError, match="init_checkpoint"):
        train_net.main(_args(tiny_synthetic, str(tmp_path / "a"), "--eval-only"))
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        train_net.main(_args(tiny_synthetic, str(tmp_path / "b"), "--eval-only",
                             "train.init_checkpoint=nope.pth"))


def test_eval_only_with_weights_of_another_model_is_refused(trained, tiny_synthetic, tmp_path):
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.config import instantiate

    from sr_d2.config import load_lazy_config

    seven = instantiate(load_lazy_config(CONFIG, ["model.sem_seg_head.num_classes=7"]).model)
    DetectionCheckpointer(seven, str(tmp_path)).save("seven")
    with pytest.raises(ValueError, match=r"sem_seg_head.predictor.weight: \(7, 128, 1, 1\) in the "
                                         r"checkpoint, \(6, 128, 1, 1\) in the model"):
        train_net.main(_args(tiny_synthetic, str(tmp_path / "a"), "--eval-only",
                             f"train.init_checkpoint={tmp_path / 'seven.pth'}"))
    # The SR model evaluates a plain checkpoint: its exits are not used in evaluation.
    out, _ = trained
    weights = f"train.init_checkpoint={os.path.join(out, 'model_final.pth')}"
    sr = train_net.main(_args(tiny_synthetic, str(tmp_path / "b"), "--eval-only", weights, config=SR_CONFIG))
    last = [m for m in _metrics(out) if "sem_seg/mIoU" in m][-1]
    assert sr["sem_seg"]["mIoU"] == pytest.approx(last["sem_seg/mIoU"])


def test_bad_override_fails_before_writing_anything(tiny_synthetic, tmp_path):
    out = tmp_path / "never"
    with pytest.raises(KeyError, match="train.max_iters"):
        train_net.main(_args(tiny_synthetic, str(out), "train.max_iters=3"))
    assert not out.exists()


def test_sr_training_logs_every_loss_and_its_warmup_follows_the_schedule_across_resume(tiny_synthetic,
                                                                                         tmp_path):
    out = str(tmp_path)
    warmup = "sr_schedule.scheduler.warmup=0.6"  # of max_iter: 2 of 3 iterations, then 3 of 5
    results = train_net.main(_args(tiny_synthetic, out, warmup, max_iter=3, config=SR_CONFIG))
    evaluations = [m for m in _metrics(out) if "sem_seg/mIoU" in m]
    assert evaluations[-1]["sem_seg/mIoU"] == pytest.approx(results["sem_seg"]["mIoU"])
    train_net.main(_args(tiny_synthetic, out, "--resume", warmup, max_iter=5, config=SR_CONFIG))
    steps = [m for m in _metrics(out) if "total_loss" in m]
    assert [m["iteration"] for m in steps] == [0, 1, 2, 3, 4]
    for m in steps:
        assert {"loss_sem_seg", "loss_exit_seg", "loss_exit_cls", "loss_sr_f", "loss_sr_l"} <= set(m)
    assert [m["sr_scale"] for m in steps] == [0.0, 0.0, 1.0, 1.0, 1.0]
    assert all(0.0 <= m["sr_teacher_accuracy"] <= 1.0 for m in steps)


def test_a_save_killed_half_way_loses_no_checkpoint(tiny_synthetic, tmp_path, monkeypatch):
    out = str(tmp_path)
    train_net.main(_args(tiny_synthetic, out, max_iter=2))
    final = os.path.join(out, "model_final.pth")
    before = open(final, "rb").read()

    def killed(data, f):  # the process dies after writing part of the file
        f.write(b"PK\x03\x04 truncated")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        train_net.main(_args(tiny_synthetic, out, "--resume", max_iter=4))
    monkeypatch.undo()
    assert open(os.path.join(out, "last_checkpoint")).read().strip() == "model_final.pth"
    assert open(final, "rb").read() == before
    train_net.main(_args(tiny_synthetic, out, "--resume", max_iter=4))  # resumes from model_final
    assert _iterations(out)[-2:] == [2, 3]


def test_a_new_run_in_a_finished_runs_folder_is_refused_unless_told_to_overwrite(tiny_synthetic, tmp_path):
    out = str(tmp_path)
    train_net.main(_args(tiny_synthetic, out, max_iter=4))
    before = {f: open(os.path.join(out, f), "rb").read() for f in ("model_final.pth", "metrics.json")}
    with pytest.raises(FileExistsError, match=r"holds a training run \(model_0000001.pth, model_0000003.pth, "
                                              r"model_final.pth, last_checkpoint and 2 more\).*--resume"):
        train_net.main(_args(tiny_synthetic, out, max_iter=2))
    assert {f: open(os.path.join(out, f), "rb").read() for f in before} == before  # nothing lost
    train_net.main(_args(tiny_synthetic, out, "--overwrite", max_iter=2))
    assert _iterations(out) == [0, 1]  # the old run's metrics are gone, not appended to
    assert not {"model_0000003.pth"} & set(os.listdir(out))  # nor are its checkpoints kept beside
    assert open(os.path.join(out, "last_checkpoint")).read().strip() == "model_final.pth"


def test_resume_refuses_an_unreadable_or_missing_last_checkpoint(tiny_synthetic, tmp_path):
    out = str(tmp_path)
    train_net.main(_args(tiny_synthetic, out, max_iter=2))
    with open(os.path.join(out, "model_final.pth"), "wb") as f:
        f.write(b"")  # e.g. the disk filled up
    with pytest.raises(RuntimeError, match=r"model_final.pth cannot be read.*\['model_0000001.pth'\]"):
        train_net.main(_args(tiny_synthetic, out, "--resume", max_iter=4))
    os.remove(os.path.join(out, "last_checkpoint"))
    with pytest.raises(FileNotFoundError, match=r"holds checkpoints \['model_0000001.pth', "
                                                r"'model_final.pth'\] but no last_checkpoint"):
        train_net.main(_args(tiny_synthetic, out, "--resume", max_iter=4))
    assert os.path.getsize(os.path.join(out, "model_final.pth")) == 0  # nothing overwritten


def _patch_head_losses(monkeypatch, change):
    """Make detectron2's semantic head call ``change(head, its losses, iteration)`` after each loss."""
    from detectron2.modeling.meta_arch.semantic_seg import SemSegFPNHead
    from detectron2.utils.events import get_event_storage

    losses = SemSegFPNHead.losses

    def patched(head, logits, targets):
        result = losses(head, logits, targets)
        change(head, result, get_event_storage().iter)
        return result

    monkeypatch.setattr(SemSegFPNHead, "losses", patched)


def test_a_loss_diverging_at_the_last_step_stops_without_saving_or_evaluating(tiny_synthetic, tmp_path,
                                                                              monkeypatch):
    def nan_at_last_step(head, losses, iteration):
        if iteration == 3:
            losses["loss_sem_seg"] = losses["loss_sem_seg"] * float("nan")

    _patch_head_losses(monkeypatch, nan_at_last_step)
    out = str(tmp_path)
    with pytest.raises(FloatingPointError, match="iteration=3"):
        train_net.main(_args(tiny_synthetic, out, max_iter=4))
    assert open(os.path.join(out, "last_checkpoint")).read().strip() == "model_0000001.pth"
    assert "model_final.pth" not in os.listdir(out)
    assert not [m for m in _metrics(out) if "sem_seg/mIoU" in m]


def test_after_a_divergence_a_lower_lr_resumes_from_the_last_sane_checkpoint(tiny_synthetic, tmp_path,
                                                                             monkeypatch):
    # The Troubleshooting row, followed: weights go infinite at iteration 3, the loss is NaN at 4;
    # the checkpoint of iteration 3 is not kept, and --resume optimizer.lr=... continues from 2 at it.
    def exploding(head, losses, iteration):
        if iteration == 3:
            head.predictor.weight.data.fill_(float("inf"))
        if iteration == 4:
            losses["loss_sem_seg"] = losses["loss_sem_seg"] * float("nan")

    _patch_head_losses(monkeypatch, exploding)
    out = str(tmp_path)
    with pytest.raises(FloatingPointError):
        train_net.main(_args(tiny_synthetic, out, "train.checkpointer.period=1", max_iter=6))
    assert open(os.path.join(out, "last_checkpoint")).read().strip() == "model_0000002.pth"
    assert "model_0000003.pth" not in os.listdir(out)
    first_lrs = {m["iteration"]: m["lr"] for m in _metrics(out) if "lr" in m}
    monkeypatch.undo()
    train_net.main(_args(tiny_synthetic, out, "--resume", "optimizer.lr=0.002", max_iter=6))
    steps = [m for m in _metrics(out) if "total_loss" in m]
    assert [m["iteration"] for m in steps][-3:] == [3, 4, 5]
    resumed_at_3 = [m["lr"] for m in steps if m["iteration"] == 3][-1]
    assert resumed_at_3 == pytest.approx(first_lrs[3] * 0.002 / 0.02)  # the config said 0.02
    assert "model_final.pth" in os.listdir(out)


def test_a_batch_without_a_labelled_pixel_is_named_as_such_not_as_a_learning_rate(tiny_synthetic, tmp_path):
    import numpy as np
    from PIL import Image

    from detectron2.data import MetadataCatalog

    from sr_d2.data.datasets import register_sem_seg_folder

    for folder in ("img", "gt"):
        (tmp_path / folder).mkdir()
    for stem in ("a", "b"):
        Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(tmp_path / "img" / f"{stem}.png")
        Image.fromarray(np.full((64, 64), 255, np.uint8)).save(tmp_path / "gt" / f"{stem}.png")
    classes = MetadataCatalog.get(tiny_synthetic[0]).stuff_classes
    register_sem_seg_folder("test_all_void", str(tmp_path / "img"), str(tmp_path / "gt"), classes)
    with pytest.raises(FloatingPointError, match=r"(?s)iteration=0.*The batch of iteration 0 has no labelled "
                                                 r"pixel.*ignore value 255 in \[.*/img/[ab].png'.*"
                                                 r"a lower learning rate will not help"):
        train_net.main(_args(tiny_synthetic, str(tmp_path / "out"), "dataloader.train.dataset.names=test_all_void"))


@pytest.mark.parametrize("override,message", [
    ("dataloader.test.dataset.names=[a,a]", r"names=\['a', 'a'\]: name each dataset to evaluate on once"),
    ("dataloader.train.dataset.names=camvid_sem_seg_trian", r"dataloader.train.dataset.names: dataset "
                                                             r"'camvid_sem_seg_trian' is not registered; did you "
                                                             r"mean camvid_sem_seg_train"),
])
def test_datasets_that_cannot_be_used_are_named_before_anything_is_built(tiny_synthetic, tmp_path, override,
                                                                         message):
    out = tmp_path / "never"
    with pytest.raises(ValueError, match=message):
        train_net.main(_args(tiny_synthetic, str(out), "--eval-only", override))
    assert not out.exists()


def test_a_bad_test_pair_is_found_before_training_not_after_it(tiny_synthetic, tmp_path):
    import numpy as np
    from PIL import Image

    from detectron2.data import MetadataCatalog

    from sr_d2.data.datasets import register_sem_seg_folder

    for folder in ("img", "gt"):
        (tmp_path / folder).mkdir()
    for stem, label in (("a", np.zeros((64, 64), np.uint8)), ("b", np.zeros((64, 60), np.uint8)),
                        ("c", np.zeros((64, 64, 3), np.uint8))):
        Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(tmp_path / "img" / f"{stem}.png")
        Image.fromarray(label).save(tmp_path / "gt" / f"{stem}.png")
    classes = MetadataCatalog.get(tiny_synthetic[0]).stuff_classes
    register_sem_seg_folder("test_bad_pairs", str(tmp_path / "img"), str(tmp_path / "gt"), classes)
    out = tmp_path / "never"
    with pytest.raises(ValueError, match=r"dataset 'test_bad_pairs': 2 of 3 image / label pairs are bad: "
                                         r"label '.*b.png' is 60x64 \(W x H\), its image is 64x64 as loaded; "
                                         r"label '.*c.png' is a RGB image"):
        train_net.main(_args(tiny_synthetic, str(out), "dataloader.test.dataset.names=test_bad_pairs"))
    assert not out.exists()


def test_a_dataset_with_other_classes_than_the_model_is_named(tiny_synthetic, tmp_path):
    out = tmp_path / "never"
    camvid = "dataloader.test.dataset.names=camvid_sem_seg_val"  # 11 classes, the config counted 6
    with pytest.raises(ValueError, match="num_classes=6, but dataset 'camvid_sem_seg_val' has 11 classes"):
        train_net.main(_args(tiny_synthetic, str(out), camvid))
    assert not out.exists()


def test_the_sr_schedule_comes_from_the_config_and_its_absence_is_said(caplog):
    import logging

    from detectron2.config import instantiate

    from sr_d2.config import load_lazy_config
    from sr_d2.engine import SRSchedule
    from sr_d2.engine.train import sr_schedule

    cfg = load_lazy_config(SR_CONFIG, ["sr_schedule.scheduler.warmup=0.5"])
    model = instantiate(cfg.model)
    hook = sr_schedule(cfg, model)
    assert isinstance(hook, SRSchedule) and hook.scheduler(0.49) == 0 and hook.scheduler(0.5) == 1
    del cfg.sr_schedule
    logger = logging.getLogger("sr_d2")  # detectron2's setup_logger stops it propagating
    logger.addHandler(caplog.handler)
    try:
        assert sr_schedule(cfg, model) is None
    finally:
        logger.removeHandler(caplog.handler)
    assert "no sr_schedule" in caplog.text and "no warm-up" in caplog.text
    assert sr_schedule(load_lazy_config(CONFIG), instantiate(load_lazy_config(CONFIG).model)) is None


@pytest.mark.parametrize("override, message", [
    ("train.max_iter=0", r"train.max_iter=0: a whole number of at least 1"),
    ("train.max_iter=25.5", r"train.max_iter=25.5: a whole number"),
    ("train.checkpointer.period=0", r"train.checkpointer.period=0: a whole number of at least 1"),
    ("train.log_period=0", r"train.log_period=0: a whole number of at least 1"),
    ("dataloader.train.total_batch_size=0", r"dataloader.train.total_batch_size=0: a whole number"),
    ("train.eval_period=-1", r"train.eval_period=-1: a whole number of at least 0"),
])
def test_an_unusable_count_is_named_before_anything_is_built(tiny_synthetic, tmp_path, override, message):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=message):
        train_net.main(_args(tiny_synthetic, str(out), override))
    assert not out.exists()  # refused before the output folder was made


def test_a_whole_float_count_trains_as_an_int(tiny_synthetic, tmp_path):
    train_net.main(_args(tiny_synthetic, str(tmp_path), "train.max_iter=2e0"))
    assert _iterations(str(tmp_path)) == [0, 1]


@pytest.mark.parametrize("text", ["", "MODEL:\n  META_ARCHITECTURE: SemanticSegmentor\n"])
def test_an_empty_or_yacs_config_is_named(tmp_path, text):
    path = tmp_path / ("config.yaml" if text else "config.py")
    path.write_text(text)
    args = train_net.argument_parser().parse_args(["--config-file", str(path)])
    with pytest.raises(ValueError, match=rf"{path} defines no model, dataloader, train, optimizer, "
                                         r"lr_multiplier: a training config is a LazyConfig file \(.py\)"):
        train_net.main(args)


def test_resume_of_a_run_stopped_before_its_first_checkpoint_is_refused_not_appended(tiny_synthetic,
                                                                                      tmp_path):
    out = str(tmp_path)
    train_net.main(_args(tiny_synthetic, out, "train.checkpointer.period=100", max_iter=2))
    for name in os.listdir(out):  # as if killed at iteration 1: the metrics, no checkpoint yet
        if name.startswith("model_") or name == "last_checkpoint":
            os.remove(os.path.join(out, name))
    logged = open(os.path.join(out, "metrics.json")).read()
    with pytest.raises(FileExistsError, match=r"--resume: .* has no checkpoint to resume.*--overwrite"):
        train_net.main(_args(tiny_synthetic, out, "--resume", max_iter=2))
    assert open(os.path.join(out, "metrics.json")).read() == logged
    train_net.main(_args(tiny_synthetic, out, "--resume", "--overwrite", max_iter=2))
    assert _iterations(out) == [0, 1]  # started anew, not appended


def test_resume_into_another_model_is_refused(tiny_synthetic, tmp_path):
    out = str(tmp_path)
    train_net.main(_args(tiny_synthetic, out, max_iter=2))  # the plain model; the SR one has exits
    with pytest.raises(ValueError, match=r"--resume: the last checkpoint in .* does not fit the config's model "
                                         r"\(sem_seg_head.self_regulation\..*: missing from the checkpoint"):
        train_net.main(_args(tiny_synthetic, out, "--resume", max_iter=4, config=SR_CONFIG))
    assert _iterations(out) == [0, 1]  # nothing trained on, nothing appended


def test_eval_only_of_non_finite_weights_is_refused(trained, tiny_synthetic, tmp_path):
    out, _ = trained
    checkpoint = torch.load(os.path.join(out, "model_final.pth"), weights_only=True)
    checkpoint["model"]["sem_seg_head.predictor.bias"][0] = float("nan")
    torch.save(checkpoint, tmp_path / "nan.pth")
    with pytest.raises(ValueError, match=r"weights \['sem_seg_head.predictor.bias'\] are not finite"):
        train_net.main(_args(tiny_synthetic, str(tmp_path / "a"), "--eval-only",
                             f"train.init_checkpoint={tmp_path / 'nan.pth'}"))


def test_options_may_follow_overrides_and_the_help_shows_lazyconfig_examples(capsys):
    args = train_net.argument_parser().parse_args(
        ["--config-file", CONFIG, "train.max_iter=5", "--resume", "optimizer.lr=0.1", "--num-gpus", "2"])
    assert args.resume and args.num_gpus == 2 and args.opts == ["train.max_iter=5", "optimizer.lr=0.1"]
    with pytest.raises(SystemExit):
        train_net.argument_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    assert "--eval-only train.init_checkpoint=" in text and "cfg.yaml" not in text and "Yacs" not in text


def test_a_healthy_sr_run_of_the_shipped_config_saves_every_checkpoint_it_schedules(tiny_synthetic, tmp_path):
    # #38: a bound on weights refused every save from iteration 19-49 on (BatchNorm statistics of raw pixels)
    out = str(tmp_path)
    train_net.main(_args(tiny_synthetic, out, "train.checkpointer.period=10", max_iter=30, config=SR_CONFIG))
    saved = sorted(f for f in os.listdir(out) if f.startswith("model_"))
    assert saved == [f"model_{i:07d}.pth" for i in (9, 19, 29)] + ["model_final.pth"]


def test_one_pixel_images_train_and_evaluate(tmp_path):  # #38.7: they once ended in a traceback
    import numpy as np
    from PIL import Image

    from detectron2.data import DatasetCatalog, MetadataCatalog

    from sr_d2.data.datasets import SYNTHETIC_CLASSES, register_sem_seg_folder

    (tmp_path / "img").mkdir(), (tmp_path / "gt").mkdir()
    for i in range(4):
        Image.fromarray(np.full((1, 1, 3), 60 * i, np.uint8)).save(tmp_path / "img" / f"{i}.png")
        Image.fromarray(np.full((1, 1), i % 6, np.uint8)).save(tmp_path / "gt" / f"{i}.png")
    register_sem_seg_folder("test_one_pixel", str(tmp_path / "img"), str(tmp_path / "gt"), SYNTHETIC_CLASSES)
    try:
        results = train_net.main(_args(("test_one_pixel", "test_one_pixel"), str(tmp_path / "out"), max_iter=2,
                                       config=SR_CONFIG))
        assert 0.0 <= results["sem_seg"]["mIoU"] <= 100.0
    finally:
        DatasetCatalog.remove("test_one_pixel")
        MetadataCatalog.remove("test_one_pixel")


@pytest.mark.parametrize("override, message", [
    ("optimizer.lr=nan", r"optimizer.lr=nan: a finite number >= 0"),
    ("optimizer.lr=inf", r"optimizer.lr=inf: a finite number >= 0"),
    ("optimizer.weight_decay=-1e-4", r"optimizer.weight_decay=-0.0001: a finite number >= 0"),
])
def test_a_non_finite_optimizer_setting_is_named_before_anything_is_built(tiny_synthetic, tmp_path, override,
                                                                        message):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=message):
        train_net.main(_args(tiny_synthetic, str(out), override))
    assert not out.exists()


@pytest.mark.parametrize("override, message", [
    ("model.self_regulation.weight_dict.loss_sr_f=nan", r"weight_dict\['loss_sr_f'\] must be a finite number >= 0, "
                                                        r"got nan"),
    ("model.self_regulation.weight_dict.loss_sr_l=inf", r"weight_dict\['loss_sr_l'\] must be a finite number"),
    ("model.self_regulation.sr_f.tau=0", r"sr_f.tau must be a finite number > 0 \(it divides the logits\), got 0"),
    ("model.self_regulation.sr_l.tau=nan", r"sr_l.tau must be a finite number > 0"),
    ("model.self_regulation.exit_head.backbone_grad_scale=nan", r"backbone_grad_scale must be a finite number"),
])
def test_a_setting_that_would_switch_a_loss_off_or_make_it_nan_is_named(tiny_synthetic, tmp_path, override,
                                                                       message):
    with pytest.raises(ValueError, match=message):
        train_net.main(_args(tiny_synthetic, str(tmp_path), override, config=SR_CONFIG))
    assert not os.path.exists(tmp_path / "metrics.json")  # nothing trained


def test_initial_weights_sharing_no_weight_with_the_model_are_refused(tiny_synthetic, tmp_path):
    other = tmp_path / "other.pth"
    torch.save({"model": {"encoder.conv.weight": torch.zeros(3, 3)}}, other)
    with pytest.raises(ValueError, match=r"train.init_checkpoint: none of its 1 weights is one of the model's \d+ "
                                         r"\(its keys e.g. \['encoder.conv.weight'\], the model's e.g. \['backbone"):
        train_net.main(_args(tiny_synthetic, str(tmp_path / "a"), f"train.init_checkpoint={other}"))
    assert not _iterations_or_none(str(tmp_path / "a"))  # nothing trained
    for flag in ("", "--eval-only"):  # a folder, for training and for evaluation
        with pytest.raises(IsADirectoryError, match=rf"train.init_checkpoint='{tmp_path}' is a folder: give a "
                                                    rf"weights file in it \(e.g. {tmp_path}/model_final.pth\)"):
            train_net.main(_args(tiny_synthetic, str(tmp_path / "b"), *[flag] * bool(flag),
                                 f"train.init_checkpoint={tmp_path}"))


def _iterations_or_none(output_dir):
    return _iterations(output_dir) if os.path.isfile(os.path.join(output_dir, "metrics.json")) else None
