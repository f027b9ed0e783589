"""ETH Zurich, Deep Learning 2018, series 5 (published solutions): reproduced and checked."""

from __future__ import annotations

from ex1 import theory
from ex1.result import Result
from ex1.runner import Context

from .registry import question


@question("eth.1", "Properties of the convolutional layer", datasets=())
def properties(cfg, ctx: Context) -> Result:
    """1. Show that convolution commutes with translation. 2. What is the size of f * k for an m x n
    image f and a (2p+1) x (2q+1) kernel k, and how can the output keep the input's size?"""
    return Result(tables={"checks": theory.translation_2d_check(), "equivariance": theory.translation_equivariance()})


@question("eth.2", "Local connectivity and parameter sharing", datasets=())
def parameter_sharing(cfg, ctx: Context) -> Result:
    """First-layer parameters (biases ignored) of a CNN with K kernels of p x p on an m x m RGB image, of
    a locally connected network with the same connections, and of a fully connected network with the
    same number of outputs; the ratios for a 128 x 128 x 3 image and 5 x 5 kernels (the solution states
    2.168e-5 and 1.103e-8)."""
    return Result(tables={"counts": theory.eth_parameter_ratios()},
                  facts={"stated_lc": 2.168e-5, "stated_fc": 1.103e-8, "m": 128, "p": 5})


@question("eth.3", "Backpropagation through convolutional layers", datasets=())
def backprop(cfg, ctx: Context) -> Result:
    """Derive dL/dw and dL/dy^(l-1) for y^(l) = y^(l-1) * w, in the rot180 form."""
    # The same check as Tübingen 2: the report prints it once.
    return Result(tables={"checks": theory.conv2d_backprop_check()})
