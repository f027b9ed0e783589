"""Tuebingen, Deep Neural Networks, Assignment 10: backprop through a convolution; layer sizes."""

from __future__ import annotations

from ex1 import theory
from ex1.result import Result
from ex1.runner import Context

from .registry import question


@question("tuebingen.2", "Backpropagation through a convolution", datasets=())
def backprop(cfg, ctx: Context) -> Result:
    """Z_ij = sum_{k,l} V_{i+k, j+l} K_{k,l}, with V the input image and K the kernel. Given the partial
    derivative dL/dZ_ij, calculate dL/dK_mn and dL/dV_mn. Comment on the resulting formulae."""
    return Result(tables={"checks": theory.conv2d_backprop_check()})


@question("tuebingen.3", "Network size and parameters", datasets=())
def layer_sizes(cfg, ctx: Context) -> Result:
    """Input 21x21 with 12 channels, convolved with a 7x7 kernel with 36 output channels. (a) Output
    size with stride 1 and no padding? (b) How many activations in the output? (c) How many parameters
    in the convolutional weights? (d) How many weights for a fully connected layer with the same output
    size? (e) How much padding keeps the spatial size (stride 1)? (f) Output size with stride 2, no
    padding?"""
    return Result(tables={"sizes": theory.conv_layer_sizes()})
