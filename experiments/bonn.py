"""Bonn, Deep Learning for Visual Recognition, Assignment 4: the theoretical exercises."""

from __future__ import annotations

from ex1 import theory
from ex1.result import Result
from ex1.runner import Context

from .registry import question


@question("bonn.t1", "Backpropagation through a convolutional layer", datasets=())
def conv_backprop(cfg, ctx: Context) -> Result:
    """The output (before the nonlinearity) of a convolutional layer with weights w (k x k) on an input
    x (d x d) is y = x * w (one input and one output channel). Derive dy/dw and dy/dx."""
    # The same check as Tübingen 2: the report prints it once.
    return Result(tables={"checks": theory.conv2d_backprop_check()})


@question("bonn.t2", "Weight sharing in backpropagation", datasets=())
def weight_sharing(cfg, ctx: Context) -> Result:
    """In a feed-forward network (a_j = sum_i w_ji z_i, z_i = h(a_i)) several weights are constrained
    to share one value. How must back-propagation be modified so that the constraints hold when the
    derivatives of the error with respect to the adjustable parameters are evaluated?"""
    return Result(tables={"checks": theory.weight_sharing_check()})
