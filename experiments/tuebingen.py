"""Tuebingen, Deep Neural Networks, Assignment 10: backprop through a convolution; layer sizes."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ex1 import theory
from ex1.result import Result
from ex1.runner import Context, RunSpec
from ex1.train import TrainConfig

from .registry import question

GAP_STEPS = 10000     # the sheet gives no count; 8.3 epochs of 50-image batches fit its time limit easily
# Learning rate before and after the drop at half of the steps: the sheet names neither, so two are tried, the
# second five times higher, and the one with the higher validation accuracy is trained on all images.
LR_SCHEDULES = ((0.01, 0.001), (0.05, 0.005))
VALIDATION = 5000     # training images held out at random: the choice of schedule never looks at the test set
CHOICE_EVALS = 3      # the choice reads the mean of the last 3 validation evaluations, not one noisy reading


@dataclass(frozen=True)
class GapConfig:
    schedules: tuple[TrainConfig, ...]
    validation: int
    sheet_accuracy: float = 0.97        # "surpasses the best accuracy of ~97%" of the fully connected nets
    sheet_cpu_minutes: float = 30.0     # "no more than 30 minutes to train on a CPU"
    choice_evals: int = CHOICE_EVALS


def gap_config(ctx: Context) -> GapConfig:
    steps = ctx.profile.steps(GAP_STEPS)
    # SGD with momentum 0.9 as the sheet advises; the rate drops tenfold after half of the steps
    # (its tf.train.piecewise_constant). Keras's default initialisers are tf.get_variable's (Glorot uniform).
    return GapConfig(schedules=tuple(
        ctx.train_config(GAP_STEPS, optimizer="momentum", momentum=0.9, lr_boundaries=(steps // 2,),
                         lr_values=values, batch_size=50, seed=0) for values in LR_SCHEDULES),
        validation=VALIDATION if ctx.profile.max_steps is None else 1000)


GAP_LABEL = "Tübingen GAP network"   # each run's label: GAP_LABEL, then its schedule


def schedule_label(cfg: TrainConfig) -> str:
    return " → ".join(f"{v:g}" for v in cfg.lr_values)


def enough_for_hold_out(cfg: GapConfig, ctx: Context) -> str | None:
    n = len(ctx.dataset("mnist").y_train)
    if n <= cfg.validation + cfg.schedules[0].batch_size:
        return (f"holds out {cfg.validation:,} training images drawn at random to choose the learning rate and "
                f"trains on the rest, but the training set has only {n:,}")
    return None


@question("tuebingen.1", "MNIST with convolutions: a global-average-pooling network", config=gap_config,
          requires=enough_for_hold_out)
def gap_network(cfg: GapConfig, ctx: Context) -> Result:
    """Implement a neural network comprised of convolutions that surpasses the best accuracy of ~97% of
    the fully connected networks: convolution 5×5, 16 features, ReLU; max pooling 2×2, stride 2;
    convolution 3×3, 32 features, ReLU; max pooling 2×2, stride 2; convolution 3×3, 64 features, ReLU;
    global average pooling; fully connected, 10 outputs. Use the default initialisation, reduce the
    learning rate after about half of the training steps, use momentum 0.9. Training should take no
    more than 30 minutes on a CPU. Output training and test errors every 500 training steps."""
    trials = [ctx.train(RunSpec("gap_cnn", t, label=f"{GAP_LABEL}, {schedule_label(t)}, validation",
                                validation=cfg.validation)) for t in cfg.schedules]
    scores = [float(r.history["heldout_accuracy"].iloc[-cfg.choice_evals:].mean()) for r in trials]
    chosen = cfg.schedules[max(range(len(scores)), key=scores.__getitem__)]   # the first of equals
    run = ctx.train(RunSpec("gap_cnn", chosen, label=f"{GAP_LABEL}, {schedule_label(chosen)}"))
    h = run.history
    errors = pd.DataFrame({"step": h["step"], "train_error": 1 - h["train_accuracy"],
                           "test_error": 1 - h["heldout_accuracy"], "learning_rate": h["learning_rate"],
                           "wall_s": h["wall_s"]})
    schedules = pd.DataFrame([{
        "schedule": schedule_label(r.spec.config), "initial_learning_rate": r.spec.config.lr_values[0],
        "steps": int(r.final["step"]), "train_accuracy": float(r.final["train_accuracy"]),
        "validation_accuracy": float(r.final["heldout_accuracy"]), "validation_last_mean": score,
        "chosen": r.spec.config == chosen} for r, score in zip(trials, scores)])
    curves = pd.concat([r.history.assign(schedule=schedule_label(r.spec.config)) for r in trials], ignore_index=True)
    return Result(tables={"history": h, "errors": errors, "params": run.params, "schedules": schedules,
                          "curves": curves},
                  facts={"sheet_accuracy": cfg.sheet_accuracy, "sheet_cpu_minutes": cfg.sheet_cpu_minutes,
                         "validation": cfg.validation, "choice_evals": cfg.choice_evals,
                         "train_seconds": float(run.record["train_seconds"]),
                         "wall_seconds": float(run.record["wall_seconds"])})


@question("tuebingen.2", "Backpropagation through a convolution", datasets=())
def backprop(cfg, ctx: Context) -> Result:
    """Z_ij = sum_{k,l} V_{i+k, j+l} K_{k,l}, with V the input image and K the kernel. Given the partial
    derivative dL/dZ_ij, calculate dL/dK_mn and dL/dV_mn. Comment on the resulting formulae."""
    return Result(tables={"checks": theory.conv2d_backprop_check()})


@question("tuebingen.3", "Network size and parameters", datasets=())
def layer_sizes(cfg, ctx: Context) -> Result:
    """Input 21×21 with 12 channels, convolved with a 7×7 kernel with 36 output channels. (a) Output
    size with stride 1 and no padding? (b) How many activations in the output? (c) How many parameters
    in the convolutional weights? (d) How many weights for a fully connected layer with the same output
    size? (e) How much padding keeps the spatial size (stride 1)? (f) Output size with stride 2, no
    padding?"""
    return Result(tables={"sizes": theory.conv_layer_sizes()})
