"""HUJI 67103, Assignment 1 (CNN): the practical questions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ex1 import models
from ex1.result import Result
from ex1.runner import Context, RunSpec
from ex1.train import TrainConfig

from .registry import question

# The run labels: the report's sections and figures find these runs by them (their role), not by position.
BASELINE = "HUJI network"
LINEAR = "linear network"
MISCLASSIFIED_SHOWN = 16   # the errors question 1.2 shows as pictures
SOFTMAX = "softmax regression"

# The network of question 1, trained the way the TensorFlow tutorial the sheet starts from
# trains it; later questions reuse this run through the store.
SHEET_STEPS = 20000


@dataclass(frozen=True)
class BaselineConfig:
    model: str = "huji_cnn"      # 'valid' padding: the sheet says other arguments stay default
    dropout: float = 0.5         # the tutorial's keep_prob 0.5 before the last layer (Q4 sets it to 0)
    train: TrainConfig = TrainConfig()


def baseline_config(ctx: Context) -> BaselineConfig:
    # Adam at 1e-4, batches of 50: the tutorial's recipe, which reports about 99.2% at 20000 steps.
    return BaselineConfig(train=ctx.train_config(SHEET_STEPS, optimizer="adam", learning_rate=1e-4,
                                                 batch_size=50, seed=0))


def baseline_run(cfg: BaselineConfig) -> RunSpec:
    return RunSpec(cfg.model, cfg.train, {"dropout": cfg.dropout}, label=BASELINE)


@dataclass(frozen=True)
class ParamCountConfig:
    readings: tuple[tuple[str, str], ...] = (("valid", "huji_cnn"), ("same", "huji_cnn_same"))
    trained: str = "valid"


@question("huji.1.1", "Free parameters of the network", config=lambda ctx: ParamCountConfig(), datasets=())
def parameter_count(cfg: ParamCountConfig, ctx: Context) -> Result:
    """Create a new model for the MNIST classification task, with the following architecture:
    convolution 5*5 kernel, 32 filters; 2*2 max pooling; convolution 5*5 kernel, 64 filters;
    2*2 max pooling; fully connected, output 1024; fully connected, output 10 (ReLU activations;
    other arguments left as default, e.g. stride 1). How many free parameters does this network
    have? Count manually, and show your steps."""
    tables, facts = {}, {"readings": [], "trained": cfg.trained}
    for padding, name in cfg.readings:
        model = models.create_model(name)
        table = models.param_table(model)
        tables[f"params_{padding}"] = table
        facts["readings"].append({
            "padding": padding, "model": name, "hand_count": int(table["params"].sum()),
            "keras_count": int(model.count_params()),
        })
    return Result(tables=tables, facts=facts)


@question("huji.1.2", "Train and test accuracy during training", config=baseline_config)
def accuracy_curves(cfg: BaselineConfig, ctx: Context) -> Result:
    """The training process is often visualized/monitored by plotting the training accuracy and
    the test accuracy as a function of the number of training iterations. Plot these accuracy
    measures (perhaps using a data point every 500 iterations)."""
    run = ctx.train(baseline_run(cfg))
    final = run.final
    summary = pd.DataFrame([{
        "step": int(final["step"]), "epoch": float(final["epoch"]),
        "train_accuracy": float(final["train_accuracy"]), "test_accuracy": float(final["heldout_accuracy"]),
        "train_loss": float(final["train_loss"]), "test_loss": float(final["heldout_loss"]),
        "best_test_accuracy": float(run.history["heldout_accuracy"].max()),
        "best_step": int(run.history.loc[run.history["heldout_accuracy"].idxmax(), "step"]),
    }])
    return Result(
        tables={"history": run.history, "final": summary, "params": run.params,
                "misclassified": misclassified(run, ctx.dataset("mnist"))},
        facts={"sheet_steps": SHEET_STEPS, "sheet_target": 0.97, "tutorial_accuracy": 0.992,
               "train_examples": int(run.record["train_examples"]),
               "test_examples": cfg.train.test_size or len(ctx.dataset("mnist").y_test),
               "train_eval_examples": cfg.train.train_eval_size,
               "error_images": len(ctx.dataset("mnist").y_test)},   # misclassified: every test image, any profile
    )


def misclassified(run, ds, shown: int = MISCLASSIFIED_SHOWN) -> pd.DataFrame:
    """Every test image the final network gets wrong: its index, true and predicted digit and the probability given
    to the prediction; the `shown` most confident errors also carry their 784 pixels, for the figure."""
    import numpy as np

    from ex1.data import to_float

    logits = run.predict(to_float(ds.x_test)).astype(np.float64)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    pred = p.argmax(axis=1)
    wrong = np.flatnonzero(pred != ds.y_test)
    t = pd.DataFrame({"index": wrong, "true": ds.y_test[wrong].astype(int), "predicted": pred[wrong],
                      "confidence": p[wrong, pred[wrong]]}).sort_values("confidence", ascending=False)
    top = t.head(shown)
    pixels = pd.DataFrame(ds.x_test[top["index"].to_numpy()].reshape(len(top), 784), index=top.index,
                          columns=[f"px{i}" for i in range(784)])
    return t.join(pixels).reset_index(drop=True)


@dataclass(frozen=True)
class LinearConfig:
    baseline: BaselineConfig
    linear_model: str = "huji_cnn_linear"   # ReLUs removed, max pooling -> average pooling
    affinity_pairs: int = 200                # test-image pairs for the affinity check
    affinity_seed: int = 7


def linear_config(ctx: Context) -> LinearConfig:
    return LinearConfig(baseline=baseline_config(ctx))


def affinity_errors(model, x: np.ndarray, pairs: int, seed: int) -> pd.DataFrame:
    """Relative error of f(a x + (1-a) y) against a f(x) + (1-a) f(y) on pairs of real images."""
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, len(x), (2, pairs))
    rows = []
    for a in (0.5, 0.25, -1.0, 2.0):   # affine maps keep any weights summing to one, not only convex ones
        mixed = model(a * x[i] + (1 - a) * x[j], training=False).numpy().astype(np.float64)
        combo = a * model(x[i], training=False).numpy() + (1 - a) * model(x[j], training=False).numpy()
        scale = np.abs(combo).max()
        rows.append({"a": a, "pairs": pairs, "max_abs_error": float(np.abs(mixed - combo).max()),
                     "relative_error": float(np.abs(mixed - combo).max() / scale)})
    return pd.DataFrame(rows)


@question("huji.2", "Linear versus non-linear", config=linear_config)
def linear_vs_nonlinear(cfg: LinearConfig, ctx: Context) -> Result:
    """2.1 Identify what layers/components of the network are non-linear and remove them (except for
    the logits/softmax in the loss function; also assume the max-pooling is a uniform stride, or
    change it to one). 2.2 Compare the performance of this linear network to its original
    non-linear counterpart. 2.3 What is the effect on the training and the final test accuracy of
    the network?"""
    from ex1.data import to_float

    base = ctx.train(baseline_run(cfg.baseline))
    lin = ctx.train(RunSpec(cfg.linear_model, cfg.baseline.train, {"dropout": cfg.baseline.dropout},
                            label=LINEAR))
    # The bound the linear network cannot beat, measured rather than quoted: softmax regression
    # on the raw pixels, trained with the same recipe.
    logreg = ctx.train(RunSpec("softmax_regression", cfg.baseline.train, label=SOFTMAX))
    x = to_float(ctx.dataset("mnist").x_test)
    checks = []
    for run, name in ((lin, LINEAR), (base, BASELINE)):
        # in float32: the check tests the function the weights define; bfloat16 rounding (8-bit mantissa) would bury it
        t = affinity_errors(run.model(precision="float32"), x, cfg.affinity_pairs, cfg.affinity_seed)
        t.insert(0, "model", name)
        checks.append(t)
    runs = ((base, BASELINE), (lin, LINEAR), (logreg, SOFTMAX))
    curves = pd.concat([run.history.assign(model=name) for run, name in runs])
    final = pd.DataFrame([{
        "model": name, "params": int(run.params["params"].sum()),
        "train_accuracy": float(run.final["train_accuracy"]), "test_accuracy": float(run.final["heldout_accuracy"]),
        "test_loss": float(run.final["heldout_loss"]), "train_seconds": float(run.record["train_seconds"]),
        "images_per_second": float(run.record["images_per_second"]),
    } for run, name in runs])
    templates = pd.concat([collapsed_map(lin, LINEAR), collapsed_map(logreg, SOFTMAX)], axis=1)
    return Result(tables={"curves": curves, "final": final, "affinity": pd.concat(checks, ignore_index=True),
                          "params_linear": lin.params, "params_softmax": logreg.params, "templates": templates})


def collapsed_map(run, name: str) -> pd.DataFrame:
    """The affine network as the one 10 x 784 matrix it computes: column "<name> <digit>" holds the weights
    of that digit's logit over the 784 pixels (row-major 28 x 28), read from the float32 function the weights define
    as f(e_i) - f(0) for each pixel's unit image e_i."""
    import numpy as np

    basis = np.concatenate([np.zeros((1, 784), np.float32), np.eye(784, dtype=np.float32)]).reshape(-1, 28, 28, 1)
    logits = run.model(precision="float32").predict(basis, batch_size=785, verbose=0).astype(np.float64)
    w = logits[1:] - logits[:1]
    return pd.DataFrame(w, columns=[f"{name} {d}" for d in range(w.shape[1])])
