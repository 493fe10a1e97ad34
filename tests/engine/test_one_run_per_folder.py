"""One run per folder (#38): a training refuses train.output_dir while another live process trains
there, --overwrite included; the lock of a process that is gone is taken over, and released."""
import json
import os
import socket
import subprocess
import sys

import pytest

import train_net
from sr_d2.engine.checks import LOCK_FILE

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from test_train_net import _args  # noqa: E402


def _lock(out, pid):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, LOCK_FILE), "w") as f:
        json.dump({"pid": pid, "host": socket.gethostname()}, f)


def test_a_live_owner_keeps_the_folder_a_gone_one_does_not(tiny_synthetic, tmp_path):
    out = str(tmp_path / "run")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        _lock(out, other.pid)
        with open(os.path.join(out, "metrics.json"), "w") as f:
            f.write('{"iteration": 0}\n')  # the other run's
        for extra in ([], ["--overwrite"], ["--resume"]):
            with pytest.raises(FileExistsError, match=f"in use by process {other.pid}"):
                train_net.main(_args(tiny_synthetic, out, *extra, max_iter=1))
        assert open(os.path.join(out, "metrics.json")).read() == '{"iteration": 0}\n'
    finally:
        other.kill()
        other.wait()
    # its process is gone: the lock is stale, the run goes on (and --overwrite replaces the old run)
    train_net.main(_args(tiny_synthetic, out, "--overwrite", max_iter=1))
    assert not os.path.exists(os.path.join(out, LOCK_FILE))
    assert "model_final.pth" in os.listdir(out)
