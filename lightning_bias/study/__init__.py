"""Studies: a grid of fine-tuning runs (and the pre-training runs they need), resumable, and their report.

- ``config`` — the study config (base fit config, axes of named fragments, seeds, exclude/only), validated;
- ``cells`` — the grid expanded into cells, each identified by the hash of its fully resolved config, linked
  into a DAG (pretrain -> intrinsic evaluation, pretrain -> fit);
- ``directory`` — the study directory: ``study.json``, per-cell description and state, the run lock;
- ``cell_run`` — one cell as a ``python -m lightning_bias`` subprocess, its state recorded atomically;
- ``executors`` — a local worker pool, or SLURM job arrays through submitit;
- ``runner`` — ``study run``: what is not done, dependencies first; ``results`` — results.csv/.parquet;
- ``status`` — ``study status``; ``report``, ``analysis``, ``figures`` — the study report from results alone.

Training runs in subprocesses: this package imports no model code (``commands`` resolves configs for it).
"""
