"""Report sections: Bonn, Assignment 4: the theory questions T1 and T2 (experiments.bonn)."""

from __future__ import annotations




from .common import (Table, conv_backprop_section, section, slug)


conv_backprop_section("bonn.t1")   # derived in Tübingen 2; the check is printed once


@section("bonn.t2")
def bonn_t2(result, record) -> dict:
    t = result.tables["checks"].set_index("quantity")["value"]
    return {"rows": [[q, f"{v:.6g}"] for q, v in t.items()], "diff": t["|difference|"],
            "ok": t["|difference|"] < 1e-12, "broken": t["tie broken by an unconstrained step: |w00 - w11| after"],
            "table": Table(slug("bonn.t2", "checks"), "A network with two tied weights (float64): the gradient "
                           "through the tie against the summed gradients.", ["quantity", "value"],
                           [[q, f"{v:.6g}"] for q, v in t.items()], ["l", "r"], kind="checks")}
