import os
import shutil
import tempfile

import cv2
import pytest

# The gloo tests fork this process: OpenCV's thread pool, once used here, leaves a lock held in a
# forked child, whose next OpenCV call then hangs (seen in SRSemSegEvaluator's erode). Sequential
# OpenCV has no pool.
cv2.setNumThreads(0)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATASETS = os.path.join(REPO, "..", "shared", "datasets")

# Both are read when sr_d2 registers its builtin datasets, so they are set before it is imported:
# generated data goes to a throw-away cache, and CamVid is found where this project's checkout has it.
_cache = tempfile.mkdtemp(prefix="sr_d2_test_cache_")
os.environ["SR_D2_CACHE"] = _cache
if "DETECTRON2_DATASETS" not in os.environ and os.path.isdir(SHARED_DATASETS):
    os.environ["DETECTRON2_DATASETS"] = SHARED_DATASETS


def pytest_unconfigure(config):
    shutil.rmtree(_cache, ignore_errors=True)


TINY_TRAIN, TINY_VAL = "test_tiny_synthetic_train", "test_tiny_synthetic_val"


@pytest.fixture(scope="session")
def tiny_synthetic():
    """Two small registered synthetic datasets (train: 6 images, val: 4, 64x64): their names."""
    from detectron2.data import DatasetCatalog

    from sr_d2.data.datasets import register_synthetic

    if TINY_TRAIN not in DatasetCatalog.list():
        register_synthetic(TINY_TRAIN, _cache, num_images=6, height=64, width=64, seed=0)
        register_synthetic(TINY_VAL, _cache, num_images=4, height=64, width=64, seed=1)
    return TINY_TRAIN, TINY_VAL


TINY_PANOPTIC_TRAIN, TINY_PANOPTIC_VAL = "test_tiny_panoptic_train", "test_tiny_panoptic_val"


@pytest.fixture(scope="session")
def tiny_panoptic():
    """Small registered synthetic panoptic sets (train: 4 images, val: 3, 64x80): "_separated" names."""
    from detectron2.data import DatasetCatalog

    from sr_d2.data.datasets import register_synthetic_panoptic

    if TINY_PANOPTIC_TRAIN + "_separated" not in DatasetCatalog.list():
        register_synthetic_panoptic(TINY_PANOPTIC_TRAIN, _cache, num_images=4, height=64, width=80, seed=0)
        register_synthetic_panoptic(TINY_PANOPTIC_VAL, _cache, num_images=3, height=64, width=80, seed=1)
    return TINY_PANOPTIC_TRAIN + "_separated", TINY_PANOPTIC_VAL + "_separated"


def _gloo_worker(rank, world, init_file, out, fn, args):
    import pickle

    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        result = fn(rank, world, *args)
        with open(f"{out}.{rank}", "wb") as f:
            pickle.dump(result, f)
    finally:
        dist.destroy_process_group()


@pytest.fixture
def gloo(tmp_path):
    """
    ``gloo(fn, *args, world=2)``: run ``fn(rank, world, *args)`` in ``world`` forked processes joined
    in a gloo process group (CPU); returns their results by rank. Forked, the processes inherit
    what the test registered (datasets).
    """
    import multiprocessing
    import pickle

    def run(fn, *args, world=2, timeout=300):
        out = str(tmp_path / "gloo_result")
        context = multiprocessing.get_context("fork")
        workers = [context.Process(target=_gloo_worker,
                                   args=(rank, world, str(tmp_path / "gloo_init"), out, fn, args))
                   for rank in range(world)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=timeout)
        hung = [rank for rank, w in enumerate(workers) if w.is_alive()]
        for w in workers:  # a hung worker would keep pytest from exiting
            if w.is_alive():
                w.kill()
                w.join()
        assert not hung, f"gloo workers {hung} did not finish in {timeout} s"
        assert [w.exitcode for w in workers] == [0] * world
        results = []
        for rank in range(world):
            with open(f"{out}.{rank}", "rb") as f:
                results.append(pickle.load(f))
        return results

    return run
