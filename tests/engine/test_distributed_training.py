"""SR training under DistributedDataParallel: 2 CPU processes on gloo against one process."""
import os

import torch

from detectron2.config import instantiate
from detectron2.engine import create_ddp_model

from sr_d2.config import load_lazy_config

CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "synthetic", "sr_sem_seg_fpn_R18.py")
# GroupNorm everywhere, so that a batch split over processes trains as the whole batch does; no void
# pixels, so that every process normalises its losses by the same pixel count. SR-F soft and
# ungated: a loss continuous in the weights. With the default's hard argmax and gate, float
# differences flip near-tied teacher pixels of an untrained net into other pseudo-labels (seen:
# 2 % to 15 % of an update); the default's one DDP-specific step, the class mass over processes,
# is tested on its own below.
OVERRIDES = ["model.backbone.bottom_up.stem.norm=GN", "model.backbone.bottom_up.stages.norm=GN",
             "model.self_regulation.exit_head.norm=GN",
             "model.self_regulation.sr_f.mode=soft", "model.self_regulation.sr_f.gate=none",
             "model.self_regulation.sr_f.class_balanced=False"]
STEPS, BATCH = 4, 4


def _batch():
    g = torch.Generator().manual_seed(0)
    return [{"image": torch.rand(3, 64, 64, generator=g) * 255,
             "sem_seg": torch.randint(0, 6, (64, 64), generator=g)} for _ in range(BATCH)]


def _model():
    torch.manual_seed(0)
    return instantiate(load_lazy_config(CONFIG, OVERRIDES).model).train()


def _train(rank: int, world: int, shares: int = 1):
    """
    SR warm-up then SR, STEPS SGD steps on this process's share of the batch; the weights. One
    process (world 1) takes the whole batch as ``shares`` parts, averaging their gradients: the
    whole batch's gradient, computed on parts the size the processes see (a convolution's float
    result depends on its batch size).
    """
    model = _model()
    if world > 1:
        # detectron2's wrapper, without find_unused_parameters; on CPU, no device ids
        model = create_ddp_model(model, device_ids=None)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    batch = _batch()[rank::world]
    module = model.module if world > 1 else model
    for step in range(STEPS):
        module.self_regulation.scale = 0.0 if step < 2 else 1.0  # a warm-up of 2 steps, then SR
        optimizer.zero_grad()
        for part in range(shares):
            losses = model(batch[part::shares])
            (sum(losses.values()) / shares).backward()
        optimizer.step()
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_two_processes_train_sr_as_one_process_with_the_whole_batch(gloo):
    ranks = gloo(_train)
    # one thread, as each gloo process has
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single, initial = _train(0, 1, shares=2), _model().state_dict()
    finally:
        torch.set_num_threads(threads)
    assert ranks[0].keys() == single.keys()
    # the teacher's running accuracy is each rank's own, over its share of the batch (logged only)
    del single["sem_seg_head.self_regulation.teacher_accuracy"]
    for key, value in single.items():
        assert torch.equal(ranks[0][key], ranks[1][key]), key  # DDP keeps the ranks identical
        if value.is_floating_point():
            # Float reduction order differs: allow 1 % of what training changed, a wrong gradient
            # (e.g. summed instead of averaged, or a loss missing on one side) moves far more.
            update = (value - initial[key]).abs().max().item()
            assert (ranks[0][key] - value).abs().max().item() <= 0.01 * update + 1e-7, key


def _class_mass_on(rank: int, world: int):
    from sr_d2.modeling.criterion import class_mass

    shares = torch.zeros(1, 3, 2, 2)
    shares[0, rank, 0, 0] = 1.0 + rank  # rank 0: class 0, mass 1; rank 1: class 1, mass 2
    return class_mass(shares)


def test_class_balanced_sr_f_divides_by_the_class_mass_averaged_over_processes(gloo):
    # so that the averaged gradients are those of the whole batch (sr_f_loss's class_mass)
    for mass in gloo(_class_mass_on):
        assert mass.tolist() == [0.5, 1.0, 0.0]


def test_train_net_runs_two_processes_on_cpu_as_the_docs_say(tmp_path):
    # detectron2 v0.6's launch asserts CUDA; without a GPU, --num-gpus 2 runs 2 gloo processes
    import json
    import subprocess
    import sys

    repo = os.path.join(os.path.dirname(__file__), "..", "..")
    out = tmp_path / "out"
    command = [sys.executable, os.path.join(repo, "train_net.py"), "--config-file", CONFIG,
               "train.max_iter=2", "--num-gpus", "2",  # an option after an override, as users write it
               "dataloader.train.total_batch_size=4", "dataloader.train.num_workers=0",
               "dataloader.test.num_workers=0", "train.eval_period=0", "train.log_period=1",
               "train.device=cpu", f"train.output_dir={out}"]
    # one thread per process, as two processes on the two cores of CI's machine want
    done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "log.txt.rank1").is_file() and (out / "model_final.pth").is_file()
    records = [json.loads(line) for line in open(out / "metrics.json")]
    assert [r["iteration"] for r in records if "total_loss" in r] == [0, 1]
    assert "sem_seg/mIoU" in records[-1]  # evaluated, gathered over both processes


def test_detectron2s_own_launch_starts_the_processes_where_it_runs_on_cpu(monkeypatch):
    # launch_on_cpu, which writes detectron2's private comm._LOCAL_PROCESS_GROUP, only for v0.6
    import sys

    from sr_d2.engine import train

    started = []
    monkeypatch.setattr(train, "launch", lambda *a, **k: started.append("launch"))
    monkeypatch.setattr(train, "launch_on_cpu", lambda *a, **k: started.append("launch_on_cpu"))
    monkeypatch.setattr(train.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(sys, "argv", ["train_net.py", "--config-file", CONFIG, "--num-gpus", "2"])
    monkeypatch.setattr(train.comm, "create_local_process_group", lambda n: None, raising=False)  # main
    train.invoke_main()
    monkeypatch.delattr(train.comm, "create_local_process_group")  # v0.6
    train.invoke_main()
    monkeypatch.setattr(sys, "argv", ["train_net.py", "--config-file", CONFIG])  # one process
    train.invoke_main()
    assert started == ["launch", "launch_on_cpu", "launch"]
