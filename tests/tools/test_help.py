"""Every tool's --help prints its whole docstring (usage, examples), not a sentence cut short."""
import importlib
import os

import pytest

import sr_d2.tools

TOOLS = sorted(name[:-3] for name in os.listdir(os.path.dirname(sr_d2.tools.__file__))
               if name.endswith(".py") and name != "__init__.py")


@pytest.mark.parametrize("tool", TOOLS)
def test_help_shows_the_tools_whole_docstring(tool, capsys):
    module = importlib.import_module(f"sr_d2.tools.{tool}")
    with pytest.raises(SystemExit) as e:
        module.main(["--help"])
    assert e.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    for paragraph in module.__doc__.strip().split("\n\n"):  # each paragraph, whitespace aside
        assert " ".join(paragraph.split()) in shown, paragraph[:60]
