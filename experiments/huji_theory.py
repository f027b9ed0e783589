"""HUJI 67103, Assignment 1: the theoretical questions, each answered with a numerical check."""

from __future__ import annotations

import pandas as pd

from ex1 import theory
from ex1.result import Result
from ex1.runner import Context

from .registry import question

NO_DATA: tuple[str, ...] = ()


@question("huji.t1", "Convolution: translation, dot products, output length", datasets=NO_DATA)
def convolution(cfg, ctx: Context) -> Result:
    """1.1 Show that convolution is indeed a translation-invariant operation, i.e.
    (f[k+t]*g[k])[n] = (f[k]*g[k])[n+t] and (f[k]*g[k+t])[n] = (f[k]*g[k])[n+t]. Express the
    convolution operation as a dot-product (and its translations). 1.2 When convolving a signal of
    length n with a filter of length k ≤ n and discarding all the cases where the signal is not
    fully included in the support of the filter, 1.2.1 what is the length of the output signal?
    1.2.2 What would that be when n = k?"""
    return Result(tables={
        "equivariance": theory.translation_equivariance(),
        "dot_products": theory.convolution_as_dot_products(),
        "lengths": theory.valid_output_lengths(),
    })


@question("huji.t2", "ReLU with negative responses: dead units", datasets=NO_DATA)
def relu(cfg, ctx: Context) -> Result:
    """2. Assume the filter f and the bias b produce a negative response on an example datapoint I,
    i.e. (f*I)[n] + b < 0 for all n. Assume the next layer is a ReLU layer, followed by the remaining
    layers and loss, expressed together by F, i.e. the loss is F(ReLU(f*I + b)). 2.1 What would be
    the partial derivative of this loss term with respect to f and b? 2.2 What would happen to
    these filters and biases in a gradient-descent process consisting solely on examples which
    produce negative responses?"""
    return Result(tables={"gradients": theory.relu_dead_gradients(),
                          "descent": theory.dead_unit_under_gradient_descent()})


@question("huji.t3", "Backpropagation: the Jacobian of a convolution", datasets=NO_DATA)
def backprop(cfg, ctx: Context) -> Result:
    """3.1 Compute the partial derivative of the convolution layer, f*I, with respect to the filter f
    (express the complete matrix whose columns correspond to the filter elements, and rows to the
    output image pixels). 3.2 Explain how this matrix is efficiently multiplied by the gradient
    vector of the previous layer being propagated through this layer. (1-D signals; the layer
    discards points where f is not fully inside the support of I.)"""
    checks, jac = theory.jacobian_check(n=8, k=3)
    return Result(tables={"checks": checks, "jacobian": pd.DataFrame(jac, columns=["f0", "f1", "f2"])})


@question("huji.t4", "Parameters versus constraints", datasets=NO_DATA)
def parameters(cfg, ctx: Context) -> Result:
    """4.1 How many parameters are involved in a convolutional layer (+ its biases) consisting of 96,
    5-by-5 pixel filters that operate on an RGB image? 4.2 How many parameters are involved in a
    fully-connected layer (plus its biases) mapping 4-by-4 images of 256 channels (reshaped into a
    vector) to the same dimension? 4.3 Assuming each loss term is fulfilled, i.e. rather than
    minimizing the loss we set each loss term as an equation (or constraint), how many constraints
    does a dataset of 10,000 images with 1,000 categories produce?"""
    images, categories = 10_000, 1_000
    import numpy as np

    onehot = np.eye(categories, dtype=np.uint8)[np.zeros(images, dtype=np.int64)]
    constraints = pd.DataFrame([
        {"reading": "every output of every image equals its one-hot label",
         "constraints": int(onehot.size), "independent": images * (categories - 1)},
        {"reading": "one scalar equation per image (its loss term = 0)",
         "constraints": images, "independent": images},
    ])
    return Result(tables={"counts": theory.parameter_questions(), "constraints": constraints},
                  facts={"images": images, "categories": categories})
