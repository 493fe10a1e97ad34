#!/usr/bin/env python
"""
Train and evaluate sr-d2 models with detectron2's trainer, hooks and evaluators (LazyConfig).

    python train_net.py --config-file configs/synthetic/sr_sem_seg_fpn_R18.py
    python train_net.py --config-file <cfg> --resume                  # continue in train.output_dir
    python train_net.py --config-file <cfg> --overwrite               # retrain over a finished run
    python train_net.py --config-file <cfg> --eval-only train.init_checkpoint=<model.pth>
    python train_net.py --config-file <cfg> --num-gpus 8 [--num-machines N --machine-rank R
                                                            --dist-url tcp://<host>:<port>]

The loop is detectron2's ``tools/lazyconfig_train_net.py`` with sr-d2's checks and SR's schedule
hook; it lives in ``sr_d2.engine.train``, so that tools such as ``ablate`` run it from an installed
package.
"""
from sr_d2.engine.train import argument_parser, invoke_main, main  # noqa: F401 (the script's API)

if __name__ == "__main__":
    invoke_main()
