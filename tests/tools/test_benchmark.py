import os

from sr_d2.tools.benchmark import benchmark, format_results

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "synthetic")


def test_benchmark_reports_every_variant_with_equal_test_time_params():
    results = benchmark(
        os.path.join(CONFIGS, "sem_seg_fpn_R18.py"), os.path.join(CONFIGS, "sr_sem_seg_fpn_R18.py"),
        size=(64, 64), batch=1, iters=1, rounds=1, device="cpu", presets=["sr-d2", "official"],
    )
    assert [r["name"] for r in results] == ["baseline", "SR sr-d2", "SR official"]
    assert len({r["test_params"] for r in results}) == 1
    assert all(r["train_s"] > 0 and r["infer_s"] > 0 for r in results)
    table = format_results(results)
    assert table.count("\n") == 4 and "1.00x" in table.splitlines()[2]
