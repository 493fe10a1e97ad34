"""A run's record (config.yaml, metrics.json, checkpoints) is written only by the run that owns its folder."""
import json
import os
import sys

import pytest

import train_net

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from test_train_net import CONFIG, SR_CONFIG, _args, _iterations, _metrics  # noqa: E402


def _read(path):
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture
def run(tiny_synthetic, tmp_path):
    out = str(tmp_path / "run")
    train_net.main(_args(tiny_synthetic, out, max_iter=2, config=SR_CONFIG))
    return out


def test_an_evaluation_writes_its_own_record_beside_the_run(run, tiny_synthetic):
    record = {f: _read(os.path.join(run, f)) for f in ("config.yaml", "metrics.json", "last_checkpoint")}
    weights = f"train.init_checkpoint={os.path.join(run, 'model_final.pth')}"
    results = train_net.main(_args(tiny_synthetic, run, "--eval-only", weights,
                                   "model.self_regulation.sr_f.tau=3.0", config=SR_CONFIG))
    assert {f: _read(os.path.join(run, f)) for f in record} == record  # the run's record as it trained
    (evaluation,) = [d for d in os.listdir(run) if d.startswith("eval-")]
    kept = os.path.join(run, evaluation)
    assert "tau: 3.0" in open(os.path.join(kept, "config.yaml")).read()
    with open(os.path.join(kept, "results.json")) as f:
        assert json.load(f)["sem_seg"]["mIoU"] == pytest.approx(results["sem_seg"]["mIoU"])
    train_net.main(_args(tiny_synthetic, run, "--eval-only", weights, config=SR_CONFIG))
    assert len([d for d in os.listdir(run) if d.startswith("eval-")]) == 2  # a second one, not over the first


def test_a_refused_resume_leaves_the_runs_config_as_it_trained(run, tiny_synthetic):
    config = _read(os.path.join(run, "config.yaml"))
    with pytest.raises(ValueError, match="does not fit the config's model"):
        train_net.main(_args(tiny_synthetic, run, "--resume", max_iter=4, config=CONFIG))  # the baseline
    assert _read(os.path.join(run, "config.yaml")) == config
    train_net.main(_args(tiny_synthetic, run, "--resume", "model.self_regulation.sr_f.tau=2.0", max_iter=3,
                         config=SR_CONFIG))  # accepted: the resumed run's config is its record
    assert "tau: 2.0" in open(os.path.join(run, "config.yaml")).read()


def test_a_finished_run_is_not_resumed_into_a_second_final_evaluation(run, tiny_synthetic):
    logged = _read(os.path.join(run, "metrics.json"))
    for max_iter in (2, 1):  # trained 2: its own max_iter, and below it
        with pytest.raises(ValueError, match=rf"--resume: the run in .* is finished: it trained 2 iterations "
                                             rf"\(train.max_iter={max_iter}\).*raise train.max_iter"):
            train_net.main(_args(tiny_synthetic, run, "--resume", max_iter=max_iter, config=SR_CONFIG))
    assert _read(os.path.join(run, "metrics.json")) == logged


def test_a_run_killed_before_its_final_evaluation_resumes_to_evaluate(run, tiny_synthetic):
    path = os.path.join(run, "metrics.json")
    lines = [line for line in open(path) if "sem_seg/mIoU" not in line]  # killed after model_final's save
    with open(path, "w") as f:
        f.writelines(lines)
    train_net.main(_args(tiny_synthetic, run, "--resume", max_iter=2, config=SR_CONFIG))
    assert len([m for m in _metrics(run) if "sem_seg/mIoU" in m]) == 1  # evaluated, once
    assert _iterations(run) == [0, 1]  # nothing trained again


def test_a_kill_between_a_checkpoints_rename_and_its_tag_leaves_a_checkpoint_to_resume(tiny_synthetic, tmp_path,
                                                                                      monkeypatch):
    out = str(tmp_path)
    train_net.main(_args(tiny_synthetic, out, max_iter=2))
    replace = os.replace

    def killed_after(src, dst):  # the checkpoint's rename happens, then the process dies
        replace(src, dst)
        if src.endswith(".partial.pth"):
            raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed_after)
    with pytest.raises(KeyboardInterrupt):
        train_net.main(_args(tiny_synthetic, out, "--resume", max_iter=4))
    monkeypatch.undo()
    named = open(os.path.join(out, "last_checkpoint")).read().strip()
    assert os.path.isfile(os.path.join(out, named)), named
    train_net.main(_args(tiny_synthetic, out, "--resume", max_iter=4))


def test_resume_with_a_last_checkpoint_naming_a_missing_file_says_how_to_mend_it(tiny_synthetic, tmp_path):
    out = str(tmp_path)
    train_net.main(_args(tiny_synthetic, out, max_iter=2))
    with open(os.path.join(out, "last_checkpoint"), "w") as f:
        f.write("model_0000003.partial.pth")
    with pytest.raises(FileNotFoundError, match=r"names 'model_0000003.partial.pth', which is not in the folder "
                                                r"\(its checkpoints: \['model_0000001.pth', 'model_final.pth'\]\); "
                                                r"write the one to resume from into it \(echo model_final.pth >"):
        train_net.main(_args(tiny_synthetic, out, "--resume", max_iter=4))
