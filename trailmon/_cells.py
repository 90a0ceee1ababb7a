"""Spreadsheet-safe CSV cells (SPEC §4): formula prefixes in text cells are neutralised.

A text cell (never a number) that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is written with a leading ``'``, so a spreadsheet shows it as text instead of evaluating it
(OWASP "CSV injection"). Numbers stay numbers: a float column formatted as text is not a text cell.

Examples
--------
>>> safe_cell("=SUM(A1:A9)")
"'=SUM(A1:A9)"
>>> safe_cell("C02"), safe_cell("-12.5")
('C02', "'-12.5")
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["FORMULA_PREFIXES", "safe_cell", "safe_text_frame"]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """``value`` with a leading ``'`` when it starts with a formula prefix."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def safe_text_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text (object / string) cells are :func:`safe_cell`-ed.

    Numeric, boolean and datetime columns are left alone; in an object column only ``str``
    values are touched (a number stored in an object column stays a number).
    """
    out = None
    for c in df.columns:
        col = df[c]
        if not (pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col)):
            continue
        vals = col.to_numpy(dtype=object)
        mask = np.fromiter((isinstance(v, str) and v.startswith(FORMULA_PREFIXES) for v in vals),
                           dtype=bool, count=len(vals))
        if mask.any():
            if out is None:
                out = df.copy()
            fixed = vals.copy()
            fixed[mask] = ["'" + v for v in vals[mask]]
            out[c] = fixed
    return df if out is None else out
