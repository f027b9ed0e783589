"""One module per sheet; importing this package registers every question in report order."""

# Registering order is report order: the HUJI sheet first, then Tuebingen, ETH and Bonn.
from . import huji, huji_depth, huji_overfit, huji_sum, huji_theory  # noqa: F401,I001
from . import tuebingen, eth, bonn, bonn_practical  # noqa: F401,E401
from .registry import (QUESTIONS, Answer, NotStored, Question, UnknownQuestion, execute, find_stored, out_of_date,
                       preflight, select, sheets, stored, stored_precisions)


__all__ = ["QUESTIONS", "Answer", "NotStored", "Question", "UnknownQuestion", "execute", "find_stored", "out_of_date",
           "preflight", "select", "sheets", "stored", "stored_precisions"]
