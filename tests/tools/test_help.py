"""Every tool's --help prints its whole docstring (usage, examples), not a sentence cut short."""
import importlib

import pytest

TOOLS = ["ablate", "benchmark", "demo", "exit_confusion", "export_model", "export_plain", "plot_metrics",
         "visualize"]


@pytest.mark.parametrize("tool", TOOLS)
def test_help_shows_the_tools_whole_docstring(tool, capsys):
    module = importlib.import_module(f"sr_d2.tools.{tool}")
    with pytest.raises(SystemExit) as e:
        module.main(["--help"])
    assert e.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    for paragraph in module.__doc__.strip().split("\n\n"):  # each paragraph, whitespace aside
        assert " ".join(paragraph.split()) in shown, paragraph[:60]
