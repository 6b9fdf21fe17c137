"""``last.ckpt`` at the step training ended, not at the last periodic save before it.

Lightning's ``ModelCheckpoint`` writes ``last.ckpt`` together with a periodic checkpoint only, and at the
end of training only when it never wrote one: with ``every_n_train_steps: 3`` a run of 528 steps keeps
``last.ckpt`` at step 525, so the final steps are missing from it and ``--ckpt_path last`` redoes them.
"""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning import Callback
from pytorch_lightning.callbacks import ModelCheckpoint


class LastCheckpointAtTrainEnd(Callback):
    """Write each ``ModelCheckpoint(save_last=True)``'s last checkpoint when training ends, if it is behind.

    Covers the default checkpoint callback and configured ones alike (the CLI adds this callback to every
    run that checkpoints). It writes nothing when the last checkpoint already holds the final step, after
    ``fast_dev_run``, or outside ``fit``; ``save_last="link"`` is left to Lightning, as its link would
    point at the older periodic checkpoint. Training ended by an exception does not pass here.
    """

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for checkpoint in trainer.checkpoint_callbacks:
            if not isinstance(checkpoint, ModelCheckpoint) or checkpoint.save_last is not True:
                continue
            # ModelCheckpoint's own checks (already saved at this step, fast_dev_run, not fitting, sanity check)
            # and its own writer (file name, version counter, removal of the previous last), through its
            # private methods: Lightning has no public call that saves only the last checkpoint. Every rank
            # runs this, as a sharded (DeepSpeed) save needs.
            if not checkpoint._should_skip_saving_checkpoint(trainer):
                checkpoint._save_last_checkpoint(trainer, checkpoint._monitor_candidates(trainer))
