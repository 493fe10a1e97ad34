import os

import pytest

from sr_d2.utils import written_then_renamed


def test_a_file_is_replaced_only_once_written_whole(tmp_path):
    path = str(tmp_path / "results.json")
    with open(path, "w") as f:
        f.write("old")
    with pytest.raises(RuntimeError):
        with written_then_renamed(path) as tmp, open(tmp, "w") as f:
            f.write("half")
            raise RuntimeError("killed while writing")
    assert open(path).read() == "old" and os.listdir(tmp_path) == ["results.json"]
    with written_then_renamed(path, ".png") as tmp:
        assert tmp.endswith(".png") and tmp != path
        with open(tmp, "w") as f:
            f.write("new")
    assert open(path).read() == "new" and os.listdir(tmp_path) == ["results.json"]
