import os

import pytest

from detectron2.config import instantiate

import torch

from sr_d2.tools.benchmark import benchmark, format_profile, format_results, saved_for_backward

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "synthetic")


def test_benchmark_reports_every_variant_with_equal_test_time_params_and_profiles_the_first_two():
    results = benchmark(
        os.path.join(CONFIGS, "sem_seg_fpn_R18.py"), os.path.join(CONFIGS, "sr_sem_seg_fpn_R18.py"),
        size=(64, 64), batch=1, iters=1, rounds=1, device="cpu", presets=["sr-d2", "official"], profiled=True,
    )
    assert [r["name"] for r in results] == ["baseline", "SR sr-d2", "SR official"]
    assert len({r["test_params"] for r in results}) == 1
    assert all(r["train_s"] > 0 and r["infer_s"] > 0 for r in results)
    # the exits' activations are held for the backward too; official's 256-channel exits hold more
    saved = [r["saved_mib"] for r in results]
    assert saved[0] < saved[1] < saved[2]
    assert [r["saved_ratio"] for r in results] == pytest.approx([1.0, saved[1] / saved[0], saved[2] / saved[0]])
    assert format_results(results).count("\n") == 4
    assert ["profile" in r for r in results] == [True, True, False]
    base, sr = results[0]["profile"], results[1]["profile"]
    # SR's exits add convolutions and its losses a softmax the baseline's CE has once
    assert sr["aten::convolution"][0] > base["aten::convolution"][0]
    assert sr["aten::_log_softmax"][0] > base["aten::_log_softmax"][0]


def _benchmark_built(monkeypatch, **kwargs):
    """benchmark() of the synthetic configs on one tiny step, and the model configs it built, in order."""
    built = []
    monkeypatch.setattr("sr_d2.tools.benchmark.instantiate", lambda cfg: built.append(cfg) or instantiate(cfg))
    results = benchmark(
        os.path.join(CONFIGS, "sem_seg_fpn_R18.py"), os.path.join(CONFIGS, "sr_sem_seg_fpn_R18.py"),
        size=(64, 64), batch=1, iters=1, rounds=1, device="cpu", **kwargs,
    )
    return results, built


def test_mea_only_adds_each_preset_with_sr_f_and_sr_l_off(monkeypatch):
    results, built = _benchmark_built(monkeypatch, presets=["sr-d2"], mea_only=True)
    assert [r["name"] for r in results] == ["baseline", "SR sr-d2", "SR sr-d2 MEA only"]
    sr, mea = (cfg.self_regulation for cfg in built[1:])
    assert (sr.weight_dict.loss_sr_f, sr.weight_dict.loss_sr_l) == (1.25, 1.25)
    assert (mea.weight_dict.loss_sr_f, mea.weight_dict.loss_sr_l) == (0.0, 0.0)
    assert mea.weight_dict.loss_exit_seg == sr.weight_dict.loss_exit_seg
    assert {k: v for k, v in mea.items() if k != "weight_dict"} == {k: v for k, v in sr.items() if k != "weight_dict"}


def test_table_gives_each_variant_as_a_ratio_to_the_baseline():
    results = [dict(name="baseline", train_s=0.2, infer_s=0.1, train_ratio=1.0, infer_ratio=1.0,
                    test_params=1000, saved_mib=40.0, saved_ratio=1.0, peak_mib=None),
               dict(name="SR", train_s=0.23, infer_s=0.1, train_ratio=1.15, infer_ratio=1.0,
                    test_params=1000, saved_mib=50.0, saved_ratio=1.25, peak_mib=None)]
    rows = format_results(results).splitlines()[2:]
    name, train_ms, train_ratio, infer_ms, infer_ratio, params, saved, saved_ratio = (
        cell.strip() for cell in rows[1].split("|")[1:-1])
    assert (name, float(train_ms), train_ratio, float(infer_ms), infer_ratio, params, float(saved), saved_ratio) == (
        "SR", 230.0, "1.15x", 100.0, "1.00x", "1,000", 50.0, "1.25x")


class _Squared(torch.nn.Module):
    """loss = sum((x * w)^2): autograd saves x (for w's gradient) and x * w, twice (for the square)."""

    def __init__(self, n):
        super().__init__()
        self.w = torch.nn.Parameter(torch.full((n,), 2.0))

    def forward(self, inputs):
        h = inputs[0]["x"] * self.w
        return {"loss": (h * h).sum()}


def test_saved_for_backward_counts_each_activation_once_and_no_parameter():
    model = _Squared(1000)
    # x and h, 1000 float32 each; h saved twice counts once, the parameter w not at all
    assert saved_for_backward(model, [{"x": torch.ones(1000)}]) == 2 * 1000 * 4
    assert model.w.grad is None  # the backward it ran leaves no gradient behind


def test_amp_runs_every_variant_under_autocast():
    results = benchmark(
        os.path.join(CONFIGS, "sem_seg_fpn_R18.py"), os.path.join(CONFIGS, "sr_sem_seg_fpn_R18.py"),
        size=(64, 64), batch=1, iters=1, rounds=1, device="cpu", presets=["sr-d2"], amp=True,
    )
    assert [r["name"] for r in results] == ["baseline", "SR sr-d2"]
    assert all(r["train_s"] > 0 and r["infer_s"] > 0 for r in results)


def test_profile_table_ranks_operators_by_the_time_sr_adds():
    base = {"aten::conv2d": (10, 5.0), "aten::add": (4, 1.0)}
    sr = {"aten::conv2d": (14, 6.0), "aten::add": (4, 1.0), "aten::_log_softmax": (3, 2.5)}
    rows = [[c.strip() for c in row.split("|")[1:-1]] for row in format_profile(base, sr).splitlines()[2:]]
    assert [r[0] for r in rows] == ["aten::_log_softmax", "aten::conv2d", "aten::add", "all operators"]
    assert rows[0][1:] == ["0", "0.00", "3", "2.50", "+2.50"]
    assert rows[-1][1:] == ["14", "6.00", "21", "9.50", "+3.50"]


@pytest.mark.parametrize("option", [["--iters", "0"], ["--rounds", "0"], ["--batch", "0"],
                                    ["--size", "0", "64"]])
def test_a_zero_count_or_size_is_refused_by_name(option, capsys):
    from sr_d2.tools.benchmark import main

    with pytest.raises(SystemExit):
        main(["--baseline", "b.py", "--sr", "s.py", *option])
    assert f"argument {option[0]}: 0: at least 1" in capsys.readouterr().err


def test_swapped_configs_are_named_before_anything_is_built():
    from sr_d2.tools.benchmark import main

    plain, sr = os.path.join(CONFIGS, "sem_seg_fpn_R18.py"), os.path.join(CONFIGS, "sr_sem_seg_fpn_R18.py")
    with pytest.raises(SystemExit, match=r"--baseline .*sr_sem_seg_fpn_R18.py: its model has self_regulation; "
                                         r"--baseline is the plain config, --sr its SR twin .*are they swapped\?"):
        main(["--baseline", sr, "--sr", plain])


def test_a_recipe_is_timed_as_its_config_builds_it(monkeypatch):
    results, built = _benchmark_built(monkeypatch, presets=[], recipes=["stem-balanced-ce"])
    assert [r["name"] for r in results] == ["baseline", "recipe stem-balanced-ce"]
    recipe = built[1]
    assert recipe.self_regulation.sr_f.form == "labels" and "stem" in recipe.self_regulation.input_shape
    assert results[1]["test_params"] == results[0]["test_params"]  # the stem exit is training-only too
