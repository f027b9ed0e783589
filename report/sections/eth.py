"""Report sections: ETH Zürich, Series 5."""

from __future__ import annotations

from .common import TOLERANCE, Table, check_table, conv_backprop_section, num, sci, section, slug


conv_backprop_section("eth.3")   # derived in Tübingen 2; the check is printed once


@section("eth.1")
def eth_1(result, record) -> dict:
    t = result.tables["checks"]
    return {"checks": check_table("eth.1", "checks", t, "Output size and translation on a random image.",
                                  ("max_abs_error",)),
            "ok": float(t["max_abs_error"].max()) < TOLERANCE and t["expected"].iloc[0] == t["measured"].iloc[0]}


def typeset(quantity: str) -> str:
    """A stored quantity name ("outputs 3K(m-p+1)^2") as the sheet prints it ("outputs 3K(m−p+1)²")."""
    return quantity.replace("^2", "²").replace("-", "−")


@section("eth.2")
def eth_2(result, record) -> dict:
    t = result.tables["counts"].set_index("quantity")["value"]
    facts = result.facts

    def close(a, b):  # the solution states four significant digits
        return float(f"{a:.4g}") == b

    lc, fa, fb = t["ratio CNN / locally connected"], t["ratio CNN / FC, reading 3K"], t["ratio CNN / FC, reading 9K"]
    rows = [[typeset(q), (sci(v, 4) if v < 1 else num(v))] for q, v in t.items()]
    return {"table": Table(slug("eth.2", "counts"), "First-layer parameters for m = 128, p = 5, K = 1 (the ratios do "
                           "not depend on K).", ["quantity", "value"], rows, ["l", "r"], kind="more"),
            "lc": lc, "fa": fa, "fb": fb, "facts": facts, "lc_ok": close(lc, facts["stated_lc"]),
            "fa_ok": close(fa, facts["stated_fc"]), "fb_ok": close(fb, facts["stated_fc"])}
