"""What a question function returns: tables and scalar facts (no figures, no HTML)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class Result:
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)   # JSON-serialisable scalars, lists, dicts

    def table(self, name: str) -> pd.DataFrame:
        if name not in self.tables:
            raise KeyError(f"result has no table {name!r}; it has {sorted(self.tables)}")
        return self.tables[name]
