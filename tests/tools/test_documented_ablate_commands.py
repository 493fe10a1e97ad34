"""Every ``sr_d2.tools.ablate`` command in the README and docs runs as written: run through bash
with ``python`` recording its arguments, each parses, names known variants and sets existing keys."""
import glob
import json
import os
import re
import shlex
import subprocess

import pytest

from sr_d2.config import load_lazy_config
from sr_d2.tools.ablate import VARIANTS, baseline_config, parse_args

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = ["README.md", *glob.glob("docs/**/*.md", recursive=True, root_dir=REPO),
        *glob.glob("projects/*/README.md", root_dir=REPO)]


def _ablate_blocks():
    """(file, bash block) for each fenced bash block that calls the ablate tool."""
    for doc in sorted(DOCS):
        with open(os.path.join(REPO, doc)) as f:
            text = f.read()
        for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
            if "sr_d2.tools.ablate" in block:
                yield doc, block


def _ablate_calls(block: str, tmp_path) -> list:
    """The argument lists the block passes to ``python -m sr_d2.tools.ablate``, run as bash does."""
    record = tmp_path / "calls"
    stub = f'python() {{ printf "%q " "$@" >> {shlex.quote(str(record))}; echo >> {shlex.quote(str(record))}; }}\n'
    subprocess.run(["bash", "-euc", stub + block], cwd=REPO, check=True)
    calls = [shlex.split(line) for line in record.read_text().splitlines()]
    return [c[2:] for c in calls if c[:2] == ["-m", "sr_d2.tools.ablate"]]


BLOCKS = list(_ablate_blocks())


def test_the_docs_have_ablate_commands():
    assert len(BLOCKS) >= 10


@pytest.mark.parametrize("doc, block", BLOCKS, ids=[f"{d}:{i}" for i, (d, _) in enumerate(BLOCKS)])
def test_documented_ablate_command_parses_and_names_what_exists(doc, block, tmp_path):
    calls = _ablate_calls(block, tmp_path)
    assert calls, f"{doc}: the block calls no ablate command when run"
    for argv in calls:
        args = parse_args(argv)
        defined = {name: overrides.split() for name, overrides in args.define}
        known = {**VARIANTS, **defined}
        unknown = [v for v in [*args.variants, *args.references] if v not in known]
        assert not unknown, f"{doc}: unknown variants {unknown} in {argv}"
        config = os.path.join(REPO, args.config_file)
        if "baseline" in args.variants:
            baseline_config(config)  # exists
        for variant in args.variants:
            if variant != "baseline":  # every override names a key of the config
                load_lazy_config(config, [*args.opts, *known[variant]])


def test_overrides_are_taken_wherever_they_stand():
    args = parse_args(["--config-file", "c.py", "--variants", "a", "b", "--references", "a", "b",
                       "train.max_iter=10", "--seeds", "1", "2", "x.y=1", "--output-dir", "out",
                       "--define", "d", "k=1 j=2"])
    assert (args.variants, args.references, args.seeds) == (["a", "b"], ["a", "b"], [1, 2])
    assert args.opts == ["train.max_iter=10", "x.y=1"] and args.define == [["d", "k=1 j=2"]]


@pytest.mark.parametrize("doc, block", BLOCKS, ids=[f"{d}:{i}" for i, (d, _) in enumerate(BLOCKS)])
def test_documented_ablate_command_resumes_its_results_file(doc, block, tmp_path):
    """Each result a documented command's results file records overrides for was trained with the
    overrides the command gives that variant today: rerun, it resumes instead of refusing."""
    for argv in _ablate_calls(block, tmp_path):
        args = parse_args(argv)
        path = os.path.join(REPO, args.results) if args.results else None
        if path is None or not os.path.isfile(path):
            continue
        with open(path) as f:
            results = json.load(f)
        known = {**VARIANTS, **{name: overrides.split() for name, overrides in args.define}}
        for variant in args.variants:
            for seed, result in results.get(variant, {}).items():
                if "overrides" in result:
                    assert result["overrides"] == [*args.opts, *known[variant]], f"{doc}: {variant} {seed}"
