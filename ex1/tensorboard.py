"""Training histories as TensorBoard logs (tf.summary): `ex1 --tensorboard DIR`, then `tensorboard --logdir DIR`.

One folder per question and run (<DIR>/<question>/<run label> seed <seed>), with the losses and accuracies of every
evaluation the run logged and its learning rate, at the step they were measured. Written from the run's stored
history, so a run reused from the store is logged like one trained now; a second export replaces the first.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path


def run_folder(directory: str | Path, question: str, run) -> Path:
    label = f"{run.spec.label or run.spec.model} seed {run.spec.config.seed}"
    return Path(directory) / question / re.sub(r"[^\w.,+=-]+", "_", label).strip("_")


def write_run(directory: str | Path, question: str, run) -> Path:
    """The run's history as scalars: loss/ and accuracy/ of the training sample and of the held-out images (test
    or validation, as the run evaluated), and learning_rate."""
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    # tf.summary.scalar lives in the tensorboard package (TensorFlow 2.21 no longer installs it); the summary it
    # writes is this one: a float tensor marked for TensorBoard's scalars dashboard.
    scalar = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")).SerializeToString()
    folder = run_folder(directory, question, run)
    shutil.rmtree(folder, ignore_errors=True)
    held_out = "validation" if run.spec.validation else "test"
    writer = tf.summary.create_file_writer(str(folder))
    with writer.as_default():
        for row in run.history.itertuples(index=False):
            step = int(row.step)
            for tag, value in (("loss/train", row.train_loss), (f"loss/{held_out}", row.heldout_loss),
                               ("accuracy/train", row.train_accuracy), (f"accuracy/{held_out}", row.heldout_accuracy),
                               ("learning_rate", row.learning_rate)):
                tf.summary.write(tag, tf.constant(float(value), tf.float32), step=step, metadata=scalar)
    writer.close()
    return folder
