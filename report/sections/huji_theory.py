"""Report sections: HUJI 67103, the theory questions 1-4."""

from __future__ import annotations

from ex1.stats import signed

from .common import TOLERANCE, TOLERANCE_32, Table, check_table, sci, section, slug


@section("huji.t1")
def huji_t1(result, record) -> dict:
    eq, dots, lengths = (result.tables[k] for k in ("equivariance", "dot_products", "lengths"))
    lengths_ok = bool((lengths["formula n-k+1"] == lengths["tf.nn.conv1d VALID"]).all()
                      and (lengths["formula n-k+1"] == lengths["np.convolve valid"]).all())
    return {
        "eq": check_table("huji.t1", "eq", eq, "Both identities on random periodic signals of length 32.",
                          ("max_abs_error",)),
        "eq_ok": float(eq["max_abs_error"].max()) < TOLERANCE, "eq_max": sci(eq["max_abs_error"].max()),
        "dots": check_table("huji.t1", "dots", dots, "Convolution computed as dot products with shifted, "
                            "flipped copies of the signal, against the defining sum.", ("max_abs_error",)),
        "dots_ok": float(dots["max_abs_error"].max()) < TOLERANCE,
        "lengths": check_table("huji.t1", "lengths", lengths, "Output length of a 'valid' convolution: "
                               "formula, TensorFlow and NumPy."),
        "lengths_ok": lengths_ok,
    }


@section("huji.t2")
def huji_t2(result, record) -> dict:
    g, d = result.tables["gradients"], result.tables["descent"]
    neg = g[g["case"] == "all responses negative"].iloc[0]
    pos = g[g["case"] != "all responses negative"].iloc[0]
    return {
        "grads": check_table("huji.t2", "grads", g, "Gradients of F(ReLU(f*I+b)) by tf.GradientTape.",
                             ("max |dL/df|", "|dL/db|")),
        "dead_zero": float(neg["max |dL/df|"]) == 0.0 and float(neg["|dL/db|"]) == 0.0,
        "alive_nonzero": float(pos["max |dL/df|"]) > 0.0,
        "descent": check_table("huji.t2", "descent", d, "Plain gradient descent on examples that all give "
                               "negative responses.", ("max |f - f0|", "|b - b0|")),
        "unchanged": float(d["max |f - f0|"].iloc[0]) == 0.0 and float(d["|b - b0|"].iloc[0]) == 0.0,
        "steps": int(d["steps"].iloc[0]),
    }


@section("huji.t3")
def huji_t3(result, record) -> dict:
    c, jac = result.tables["checks"], result.tables["jacobian"]
    return {
        "checks": check_table("huji.t3", "checks", c, "The explicit Jacobian and its product with an upstream "
                              "gradient, against autodiff and a correlation.", ("max_abs_error",)),
        "ok": float(c["max_abs_error"].max()) < TOLERANCE_32,
        "jac": Table(slug("huji.t3", "jac"), f"The Jacobian for a random signal of length {len(jac) + 2} and a "
                     "filter of length 3 (rows: output pixels; columns: filter taps).",
                     ["output n"] + [f"∂/∂f{j}" for j in range(jac.shape[1])],
                     [[str(i)] + [signed(v, 3) for v in row] for i, row in enumerate(jac.to_numpy())],
                     ["r"] * (jac.shape[1] + 1), kind="more"),
    }


@section("huji.t4")
def huji_t4(result, record) -> dict:
    counts, cons = result.tables["counts"], result.tables["constraints"]
    rows = {r.question[:3]: r for r in counts.itertuples()}
    return {
        "conv": rows["4.1"], "dense": rows["4.2"], "facts": result.facts,
        "counts_ok": bool((counts["by_formula"] == counts["keras"]).all()),
        "counts": check_table("huji.t4", "counts", counts, "Parameter counts by formula and by Keras."),
        "cons": cons.to_dict("records"),
        "constraints": check_table("huji.t4", "cons", cons, "Constraints from 10,000 images with 1,000 "
                                   "categories under the two readings."),
    }
