import json

import numpy as np
import pytest
from PIL import Image

from sr_d2.tools.plot_metrics import loss_table, main, plot_metrics, read_metrics


def _write(path, records):
    path.mkdir()
    (path / "metrics.json").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return str(path)


def test_reads_series_and_keeps_the_last_value_of_a_resumed_iteration(tmp_path):
    run = _write(tmp_path / "run", [
        {"iteration": 19, "total_loss": 3.0, "lr": 0.1},
        {"iteration": 39, "total_loss": 2.0},
        {"iteration": 39, "total_loss": 1.5, "sem_seg/mIoU": 40.0},  # after --resume
    ])
    s = read_metrics(run)
    assert s["total_loss"] == [(19, 3.0), (39, 1.5)] and s["sem_seg/mIoU"] == [(39, 40.0)]


def test_plots_every_loss_term_and_the_logged_metrics(tmp_path):
    base = _write(tmp_path / "base", [{"iteration": i, "total_loss": 1.0 / i, "sem_seg/mIoU": i}
                                      for i in (10, 20)])
    sr = _write(tmp_path / "sr", [{"iteration": i, "total_loss": 2.0 / i, "loss_sem_seg": 1.0 / i,
                                   "loss_sr_f": 0.5, "sr_scale": float(i > 10), "sem_seg/mIoU": i + 1,
                                   "sem_seg/BF": 50.0}
                                  for i in (10, 20)])
    out = tmp_path / "plots" / "curves.png"
    keys = plot_metrics([base, sr], ["baseline", "SR"], str(out))
    assert keys == ["total_loss", "loss_sem_seg", "loss_sr_f", "sr_scale", "sem_seg/mIoU", "sem_seg/BF"]
    image = np.asarray(Image.open(out))
    assert image.shape == (2 * 3 * 80, 4 * 4 * 80, 4)  # 2 rows of 4 panels, 4x3 inches at 80 dpi

    def has(panel, rgb):  # a pixel of that colour in panel (row, column)
        row, col = panel
        pixels = image[row * 240:(row + 1) * 240, col * 320:(col + 1) * 320, :3].astype(int)
        return bool((np.abs(pixels - rgb).sum(axis=-1) < 30).any())

    blue, orange = (31, 119, 180), (255, 127, 14)  # matplotlib's C0 and C1: baseline and SR
    assert has((0, 0), blue) and has((0, 0), orange)  # total_loss: both runs
    assert has((0, 2), orange) and not has((0, 2), blue)  # loss_sr_f: SR alone keeps its colour


def test_missing_or_malformed_metrics_are_named(tmp_path):
    with pytest.raises(SystemExit, match="nope"):
        main([str(tmp_path / "nope"), "--output", str(tmp_path / "c.png")])
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "metrics.json").write_text('{"iteration": 1, "total_loss": 1}\nnot json\n')
    with pytest.raises(SystemExit, match="metrics.json:2"):
        main([str(bad), "--output", str(tmp_path / "c.png")])
    assert not (tmp_path / "c.png").exists()


def test_a_metric_no_run_logged_is_refused_with_the_logged_ones(tmp_path):
    run = _write(tmp_path / "run", [{"iteration": 9, "total_loss": 1.0, "sem_seg/mIoU": 40.0}])
    with pytest.raises(SystemExit, match=r"--metrics sem_seg/mIOU: no run logged it \(sem_seg/mIOU: did you mean "
                                         r"sem_seg/mIoU\?\); the runs' metrics: sem_seg/mIoU"):
        main([run, "--output", str(tmp_path / "c.png"), "--metrics", "sem_seg/mIoU", "sem_seg/mIOU"])
    assert not (tmp_path / "c.png").exists()


def test_each_test_set_of_a_metric_gets_a_panel(tmp_path):
    # a config scoring val and test logs "<dataset>/sem_seg/mIoU" for each
    run = _write(tmp_path / "run", [{"iteration": 9, "total_loss": 1.0, "d_test/sem_seg/mIoU": 40.0,
                                     "d_val/sem_seg/mIoU": 45.0}])
    keys = plot_metrics([run], ["run"], str(tmp_path / "c.png"))
    assert keys == ["total_loss", "loss_sem_seg", "d_test/sem_seg/mIoU", "d_val/sem_seg/mIoU"]


def test_loss_table_means_each_term_over_spans_and_averages_runs_of_one_name(tmp_path):
    a = _write(tmp_path / "a", [{"iteration": i, "loss_cls": float(i), "loss_sr_f": 1.0} for i in (0, 1, 2, 3)])
    b = _write(tmp_path / "b", [{"iteration": i, "loss_cls": 10.0 * i} for i in (0, 1, 2, 3)])
    c = _write(tmp_path / "c", [{"iteration": i, "loss_cls": 2.0} for i in (1, 3)])
    rows = loss_table([a, b, c], ["sr", "sr", "base"], windows=2).splitlines()
    assert rows[0] == "| run | iterations | loss_cls | loss_sr_f |"
    # iterations 0-1: a's mean 0.5, b's 5.0, their mean 2.75; loss_sr_f only a's
    assert rows[2:] == ["| sr | 0-1 | 2.7500 | 1.0000 |", "| sr | 2-3 | 13.7500 | 1.0000 |",
                        "| base | 0-1 | 2.0000 |  |", "| base | 2-3 | 2.0000 |  |"]


def test_loss_table_from_the_command_line_names_runs_by_their_paths(tmp_path, capsys):
    for variant in ("baseline", "sr"):
        (tmp_path / variant).mkdir()
        _write(tmp_path / variant / "seed0", [{"iteration": 0, "loss_cls": 1.0}])
    main([str(tmp_path / "baseline" / "seed0"), str(tmp_path / "sr" / "seed0"), "--windows", "1"])
    out = capsys.readouterr().out
    assert "| baseline/seed0 | 0-0 | 1.0000 |" in out and "| sr/seed0 | 0-0 | 1.0000 |" in out
    with pytest.raises(SystemExit, match="windows must be >= 1"):
        main([str(tmp_path / "sr" / "seed0"), "--windows", "0"])
    with pytest.raises(SystemExit):  # neither a table nor a plot asked for
        main([str(tmp_path / "sr" / "seed0")])


def test_the_help_example_tables_the_plain_models_one_loss_term(tmp_path, capsys):
    # detectron2 logs a plain SemanticSegmentor's only loss as total_loss: the table shows it as
    # loss_sem_seg, as the curves do, instead of a blank baseline row
    base = _write(tmp_path / "baseline", [{"iteration": i, "total_loss": 4.0 - i} for i in (0, 1, 2, 3)])
    sr = _write(tmp_path / "sr", [{"iteration": i, "total_loss": 5.0, "loss_sem_seg": 3.0, "loss_sr_f": 2.0}
                                  for i in (0, 1, 2, 3)])
    main([base, sr, "--names", "baseline", "SR", "--output", str(tmp_path / "curves.png"), "--windows", "2"])
    rows = capsys.readouterr().out.splitlines()
    assert "| baseline | 0-1 | 3.5000 |  |" in rows and "| SR | 0-1 | 3.0000 | 2.0000 |" in rows
