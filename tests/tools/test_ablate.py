"""The ablation runner: variants x seeds through sr_d2.engine.train, resumable, summarised."""
import json
import math
import os

import pytest

from sr_d2.tools.ablate import (
    VARIANTS, ablate, baseline_config, class_table, markdown_table, scored_on, paired_stats, paired_table,
    summarize, t_quantile, datasets_scored, write_summary)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SR_CONFIG = os.path.join(REPO, "configs", "synthetic", "sr_sem_seg_fpn_R18.py")
TINY = ["train.max_iter=2", "train.eval_period=0", "train.checkpointer.period=1", "train.log_period=1",
        "train.device=cpu", "dataloader.train.total_batch_size=2", "dataloader.train.num_workers=0",
        "dataloader.test.num_workers=0"]


def _commands(run_dir):
    with open(os.path.join(run_dir, "ablate.log")) as f:
        return [line for line in f if line.startswith("$ ")]


def test_runs_every_variant_and_seed_once_and_resumes(tmp_path):
    out = str(tmp_path)
    variants = ["baseline", "no-warmup"]
    defined = {"no-warmup": ["sr_schedule.scheduler.warmup=0"]}
    study = os.path.join(out, "study", "results.json")  # e.g. kept in the repository
    results = ablate(SR_CONFIG, variants, [1], out, jobs=2, overrides=TINY, defined=defined,
                     results_path=study)
    assert {v: sorted(r) for v, r in results.items()} == {v: ["seed1"] for v in variants}
    for v in variants:
        assert results[v]["seed1"]["iteration"] == 2  # evaluated after the last step
        with open(os.path.join(out, v, "seed1", "config.yaml")) as f:
            config = f.read()
        assert "seed: 1" in config
        assert ("SRSemanticSegmentor" in config) == (v == "no-warmup")
    with open(study) as f:
        assert json.load(f) == results
    table = open(os.path.join(out, "study", "results.md")).read()
    assert "| baseline | 1 |" in table and "| no-warmup | 1 |" in table and "IoU per class" in table
    assert os.path.getsize(os.path.join(out, "study", "results.png")) > 0

    # A second call trains nothing: a run missing from results.json that finished is read from its
    # folder; one killed before its end resumes from its checkpoint.
    finished = results["baseline"].pop("seed1")
    killed = os.path.join(out, "no-warmup", "seed1")
    del results["no-warmup"]["seed1"]
    os.remove(os.path.join(killed, "model_final.pth"))
    with open(os.path.join(killed, "last_checkpoint"), "w") as f:
        f.write("model_0000000.pth")
    with open(study, "w") as f:
        json.dump(results, f)
    again = ablate(SR_CONFIG, variants, [1], out, jobs=2, overrides=TINY, defined=defined,
                   results_path=study)
    assert again["baseline"]["seed1"] == finished
    assert len(_commands(os.path.join(out, "baseline", "seed1"))) == 1
    resumed = _commands(killed)
    assert len(resumed) == 2 and "--resume" in resumed[1] and "--resume" not in resumed[0]
    assert sorted(again["no-warmup"]) == ["seed1"]


def test_relative_paths_are_the_callers_and_the_runs_start_there(tmp_path, monkeypatch):
    import subprocess

    from sr_d2.tools import ablate as module

    (tmp_path / "configs").mkdir()
    for name in ("sr_mine.py", "mine.py"):
        (tmp_path / "configs" / name).write_text("")
    calls = []

    def fake_run(cmd, cwd=None, **kwargs):  # a finished run: its final evaluation in metrics.json
        calls.append((cmd, cwd, os.getcwd()))
        run_dir = next(a.split("=", 1)[1] for a in cmd if a.startswith("train.output_dir="))
        with open(os.path.join(run_dir, "metrics.json"), "w") as f:
            f.write(json.dumps({"iteration": 1, "sem_seg/mIoU": 1.0}) + "\n")
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(module.subprocess, "run", fake_run)
    monkeypatch.chdir(tmp_path)
    ablate("configs/sr_mine.py", ["baseline", "sr-d2"], [0], "out", results_path="study/results.json")
    for cmd, cwd, working in calls:
        config = cmd[cmd.index("--config-file") + 1]
        assert config in (str(tmp_path / "configs" / "mine.py"), str(tmp_path / "configs" / "sr_mine.py"))
        assert any(a.startswith(f"train.output_dir={tmp_path / 'out'}/") for a in cmd)
        assert cwd is None and working == str(tmp_path)
    assert (tmp_path / "study" / "results.json").is_file()


def test_summary_is_the_mean_and_sample_spread_over_seeds():
    results = {"a": {"seed0": {"sem_seg/mIoU": 50.0, "sem_seg/BF": 10.0},
                     "seed1": {"sem_seg/mIoU": 54.0, "sem_seg/BF": 20.0}},
               "b": {"seed0": {"sem_seg/mIoU": 40.0}}}
    rows = summarize(results, ["b", "a", "missing"])
    assert [r["variant"] for r in rows] == ["b", "a"]
    assert rows[1]["sem_seg/mIoU"] == (52.0, pytest.approx(math.sqrt(8.0)))
    assert rows[0]["sem_seg/mIoU"] == (40.0, None)
    table = markdown_table(rows)
    assert "| a | 2 | 52.0 +/- 2.8 |" in table and "| b | 1 | 40.0 |" in table
    results["a"]["seed0"]["sem_seg/IoU-pole"], results["a"]["seed1"]["sem_seg/IoU-pole"] = 1.0, 4.0
    assert class_table(results, ["a", "b"]).splitlines() == [
        "| variant | pole |", "| --- | --- |", "| a | 2.5 |", "| b |  |"]
    # Columns are the metrics the runs have: a panoptic run adds PQ.
    assert markdown_table(rows).splitlines()[0] == "| variant | seeds | mIoU | BF |"
    results["b"]["seed0"]["panoptic_seg/PQ"] = 30.0
    assert markdown_table(summarize(results, ["a", "b"])).splitlines()[:4] == [
        "| variant | seeds | mIoU | BF | PQ |", "| --- | --- | --- | --- | --- |",
        "| a | 2 | 52.0 +/- 2.8 | 15.0 +/- 7.1 |  |", "| b | 1 | 40.0 |  | 30.0 |"]
    assert class_table({"c": {"seed0": {"panoptic_seg/PQ": 30.0}}}, ["c"]) == ""


def test_paired_table_gives_same_seed_statistics_to_each_reference():
    results = {"baseline": {"seed0": {"sem_seg/mIoU": 50.0}, "seed1": {"sem_seg/mIoU": 54.0},
                            "seed2": {"sem_seg/mIoU": 40.0}},
               "mea-only": {"seed0": {"sem_seg/mIoU": 53.0}, "seed1": {"sem_seg/mIoU": 55.0}},
               "sr": {"seed0": {"sem_seg/mIoU": 52.0, "sem_seg/BF": 9.0},
                      "seed1": {"sem_seg/mIoU": 58.0}},
               "other": {"seed5": {"sem_seg/mIoU": 1.0}}}
    # sr - baseline: +2, +4 on seeds 0, 1 (seed 2 unshared): mean 3, SE 1, t(1) 12.706 -> [-9.7,
    # +15.7], both above: "a direction"; sr - mea-only: -1, +3: SE 2, "within noise"; BF has no
    # reference value; "other" shares no seed; baseline is not compared to mea-only again.
    assert paired_table(results, ["baseline", "mea-only", "sr", "other"]).splitlines() == [
        "| comparison | seeds | mIoU | BF | reading (mIoU) |", "| --- | --- | --- | --- | --- |",
        "| mea-only - baseline | 2 | +2.0 +/- 1.0 [-10.7, +14.7] 2/0 |  | a direction |",
        "| sr - baseline | 2 | +3.0 +/- 1.0 [-9.7, +15.7] 2/0 |  | a direction |",
        "| sr - mea-only | 2 | +1.0 +/- 2.0 [-24.4, +26.4] 1/1 |  | within noise |"]
    assert paired_table({"sr": results["sr"]}, ["sr"]) == ""
    # other references, e.g. a study's controls: each variant to "sr", then to "mea-only" (sr, an
    # earlier reference, not again)
    assert paired_table(results, ["baseline", "mea-only", "sr"], ["sr", "mea-only"]).splitlines()[2:] == [
        "| baseline - sr | 2 | -3.0 +/- 1.0 [-15.7, +9.7] 0/2 |  | a direction |",
        "| mea-only - sr | 2 | -1.0 +/- 2.0 [-26.4, +24.4] 1/1 |  | within noise |",
        "| baseline - mea-only | 2 | -2.0 +/- 1.0 [-14.7, +10.7] 0/2 |  | a direction |"]


def test_t_quantile_matches_published_values():
    # two-sided 95% quantiles of Student's t (any statistics table)
    for df, value in {1: 12.706, 2: 4.303, 4: 2.776, 9: 2.262, 30: 2.042}.items():
        assert t_quantile(df) == pytest.approx(value, abs=1e-3)
    with pytest.raises(ValueError, match="df"):
        t_quantile(0)


def test_paired_stats_by_hand():
    # diffs 2, 3, 3, 4: mean 3, sample sd sqrt(2/3), SE sqrt(2/3)/2, t(3) 3.182: [1.70, 4.30]
    stats = paired_stats([2.0, 3.0, 3.0, 4.0])
    se = math.sqrt(2 / 3) / 2
    assert stats["mean"] == 3.0 and stats["se"] == pytest.approx(se)
    assert stats["low"] == pytest.approx(3 - 3.1824 * se, abs=1e-3)
    assert stats["high"] == pytest.approx(3 + 3.1824 * se, abs=1e-3)
    assert (stats["above"], stats["below"], stats["reading"]) == (4, 0, "supported")
    assert paired_stats([0.5, -0.2, 0.1])["reading"] == "within noise"
    assert paired_stats([0.1, 5.0, 0.2])["reading"] == "a direction"  # every seed above, interval wide
    assert paired_stats([-1.5]) == dict(n=1, mean=-1.5, se=None, low=None, high=None, above=0, below=1,
                                        reading="one seed")


def test_nothing_left_to_train_rewrites_the_summary_with_the_references_named(tmp_path, capsys):
    from sr_d2.tools.ablate import main

    study = str(tmp_path / "results.json")
    results = {"mea-only": {"seed0": {"sem_seg/mIoU": 50.0}}, "plain-ce": {"seed0": {"sem_seg/mIoU": 53.0}},
               "sr-f-res3": {"seed0": {"sem_seg/mIoU": 52.0}}}
    with open(study, "w") as f:
        json.dump(results, f)
    argv = ["--config-file", SR_CONFIG, "--variants", "mea-only", "sr-f-res3", "plain-ce",
            "--output-dir", str(tmp_path / "runs"), "--results", study]
    assert main(argv + ["--references", "plain-ce"]) == 0
    table = capsys.readouterr().out
    assert "| sr-f-res3 - plain-ce | 1 | -1.0 | one seed |" in table
    assert "| mea-only - plain-ce | 1 | -3.0 | one seed |" in table
    assert "- mea-only" not in table and not os.path.exists(tmp_path / "runs" / "plain-ce")
    assert main(argv + ["--references", "plain-cee"]) == 1
    assert "'plain-cee'" in capsys.readouterr().err


def test_unknown_variant_and_missing_baseline_are_named(tmp_path):
    with pytest.raises(ValueError, match="'nope'"):
        ablate(SR_CONFIG, ["nope"], [0], str(tmp_path))
    with pytest.raises(ValueError, match="sr_<baseline>.py"):
        baseline_config(os.path.join(REPO, "configs", "synthetic", "sem_seg_fpn_R18.py"))


@pytest.mark.parametrize("variant", sorted(set(VARIANTS) - {"baseline"}))
def test_every_named_variant_sets_its_keys_and_builds(variant):
    from detectron2.config import instantiate
    from omegaconf import OmegaConf

    from sr_d2.config import load_lazy_config

    from hydra.core.override_parser.overrides_parser import OverridesParser

    cfg = load_lazy_config(SR_CONFIG, VARIANTS[variant])
    for override in OverridesParser.create().parse_overrides(VARIANTS[variant]):
        value = OmegaConf.select(cfg, override.key_or_group)
        got = OmegaConf.to_object(value) if OmegaConf.is_config(value) else value
        assert got == override.value(), override.input_line
    instantiate(cfg.model)  # SelfRegulation checks the combination (e.g. a gate for class balance)


@pytest.mark.parametrize("variants, seeds, jobs, message", [
    (["sr-d2", "sr-d2"], [0], 1, "--variants sr-d2 given twice"),
    (["sr-d2"], [1, 1], 1, "--seeds 1 given twice"),
    (["../x"], [0], 1, r"\['../x'\] are not names"),
    (["sr-d2"], [0], 0, "--jobs 0: at least 1"),
    (["sr-d2"], [0, -1], 1, "--seeds -1: a seed is 0 or more"),
])
def test_requests_that_would_mix_runs_or_leave_the_folder_are_refused(variants, seeds, jobs, message, tmp_path):
    defined = {"../x": []}
    with pytest.raises(ValueError, match=message):
        ablate(SR_CONFIG, variants, seeds, str(tmp_path), jobs=jobs, defined=defined)
    assert os.listdir(tmp_path) == []  # nothing trained, nothing created


def test_corrupt_results_and_orphaned_checkpoints_are_named_and_kept(tmp_path):
    results = tmp_path / "results.json"
    results.write_text("{not json")
    with pytest.raises(ValueError, match=f"--results {results} is not JSON"):
        ablate(SR_CONFIG, ["sr-d2"], [0], str(tmp_path), results_path=str(results))
    results.unlink()
    run = tmp_path / "sr-d2" / "seed0"
    run.mkdir(parents=True)
    (run / "model_0000999.pth").write_bytes(b"weights")
    with pytest.raises(FileExistsError, match="no last_checkpoint"):
        ablate(SR_CONFIG, ["sr-d2"], [0], str(tmp_path))
    assert (run / "model_0000999.pth").read_bytes() == b"weights"


def test_results_and_runs_of_other_overrides_are_not_reused(tmp_path):
    study = tmp_path / "results.json"
    study.write_text(json.dumps({"sr-d2": {"seed0": {"sem_seg/mIoU": 50.0, "overrides": ["train.max_iter=10"]}}}))
    with pytest.raises(ValueError, match=r"sr-d2 seed 0 was trained with overrides \['train.max_iter=10'\]"):
        ablate(SR_CONFIG, ["sr-d2"], [0], str(tmp_path), overrides=["train.max_iter=20"], results_path=str(study))
    # the same overrides: the result is reused, nothing trains
    assert ablate(SR_CONFIG, ["sr-d2"], [0], str(tmp_path), overrides=["train.max_iter=10"],
                  results_path=str(study))["sr-d2"]["seed0"]["sem_seg/mIoU"] == 50.0
    run = tmp_path / "sr-f-res3" / "seed0"  # a half-trained run, to resume only as it was started
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"overrides": ["train.max_iter=10", *VARIANTS["sr-f-res3"]]}))
    with pytest.raises(ValueError, match="sr-f-res3 seed 0 was trained with overrides"):
        ablate(SR_CONFIG, ["sr-f-res3"], [0], str(tmp_path), overrides=["train.max_iter=20"])


def test_results_of_another_config_file_are_not_reused(tmp_path):
    import hashlib
    import shutil

    config = tmp_path / "configs" / "sr_sem_seg_fpn_R18.py"  # the same file name, two contents
    shutil.copytree(os.path.dirname(SR_CONFIG), config.parent)
    sha1 = hashlib.sha1(config.read_bytes()).hexdigest()
    study = tmp_path / "results.json"
    study.write_text(json.dumps({"sr-d2": {"seed0": {"sem_seg/mIoU": 50.0, "overrides": [], "config_sha1": sha1,
                                                      "config": "configs/sr_sem_seg_fpn_R18.py"}}}))
    assert ablate(str(config), ["sr-d2"], [0], str(tmp_path), results_path=str(study))["sr-d2"]["seed0"][
        "sem_seg/mIoU"] == 50.0
    config.write_text(config.read_text() + "train.max_iter = 7\n")
    with pytest.raises(ValueError, match=rf"sr-d2 seed 0 was trained with config configs/sr_sem_seg_fpn_R18.py "
                                         rf"\(sha1 {sha1[:12]}\), this call gives .*sr_sem_seg_fpn_R18.py"):
        ablate(str(config), ["sr-d2"], [0], str(tmp_path), results_path=str(study))
    assert json.loads(study.read_text())["sr-d2"]["seed0"]["sem_seg/mIoU"] == 50.0  # kept


def test_each_test_set_gets_its_own_tables_val_first(tmp_path):
    # a config scoring val and test stores "<dataset>/sem_seg/mIoU" (detectron2's flattened results)
    def run(val, test):
        return {"iteration": 9, "d_val/sem_seg/mIoU": val, "d_test/sem_seg/mIoU": test,
                "d_test/sem_seg/IoU-pole": test / 2}

    results = {"plain": {"seed0": run(50.0, 40.0), "seed1": run(52.0, 44.0)},
               "sr": {"seed0": run(51.0, 39.0), "seed1": run(54.0, 45.0)},
               "old": {"seed0": {"sem_seg/mIoU": 10.0}}}  # a run of a config with one test set
    assert datasets_scored(results) == ["", "d_val", "d_test"]
    assert scored_on(results, "d_test") == {
        "plain": {"seed0": {"sem_seg/mIoU": 40.0, "sem_seg/IoU-pole": 20.0},
                  "seed1": {"sem_seg/mIoU": 44.0, "sem_seg/IoU-pole": 22.0}},
        "sr": {"seed0": {"sem_seg/mIoU": 39.0, "sem_seg/IoU-pole": 19.5},
               "seed1": {"sem_seg/mIoU": 45.0, "sem_seg/IoU-pole": 22.5}}}
    assert scored_on(results, "") == {"old": {"seed0": {"sem_seg/mIoU": 10.0}}}
    del results["old"]
    write_summary(results, ["plain", "sr"], str(tmp_path / "results.json"), references=["plain"])
    md = (tmp_path / "results.md").read_text()
    val, test = md.split("## d_test")
    assert val.startswith("## d_val") and "| sr | 2 | 52.5 +/- 2.1 |" in val and "IoU per class" not in val
    # sr - plain on test: -1, +1 -> 0.0 +/- 1.0; on val +1, +2
    assert "| sr - plain | 2 | +0.0 +/- 1.0 [-12.7, +12.7] 1/1 | within noise |" in test
    assert "| sr - plain | 2 | +1.5 +/- 0.5 [-4.9, +7.9] 2/0 | a direction |" in val
    assert "| sr | 21.0 |" in test  # (19.5 + 22.5) / 2
    assert (tmp_path / "results.png").stat().st_size > 0


def test_a_run_dies_with_a_killed_ablate(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    # a parent that starts a child as ablate starts its runs, then is killed outright
    script = ("import subprocess, sys, time; from sr_d2.tools.ablate import _die_with_parent; "
              "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], "
              "preexec_fn=_die_with_parent); print(p.pid, flush=True); time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    for _ in range(50):
        try:
            os.kill(child, 0)
            with open(f"/proc/{child}/stat") as f:
                if f.read().split()[2] == "Z":  # gone, not yet reaped
                    break
        except (ProcessLookupError, FileNotFoundError):
            break
        time.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the run outlived the killed ablate")
