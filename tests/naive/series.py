"""Crime series by brute force: §3 proximity run on each shifted window, one (subject, crime, day) at a time."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.naive import proximity as prox


def shifted(t_s, k, tz="Europe/London"):
    """``t_s`` moved by k wall-clock days; fold=0 gives the first occurrence, and a nonexistent time
    is read with the offset before the change, i.e. moved forward by the gap (SPEC §2)."""
    z = ZoneInfo(tz)
    wall = datetime.fromtimestamp(t_s, tz=UTC).astimezone(z).replace(tzinfo=None) + timedelta(days=k)
    return wall.replace(tzinfo=z, fold=0).timestamp()


def monitored_throughout(windows, a, b):
    if b <= a:
        return any(ws <= a <= we for ws, we in windows)
    cuts = sorted({a, b, *[v for w in windows for v in w if a < v < b]})
    return all(any(ws <= (p + q) / 2 <= we for ws, we in windows) for p, q in zip(cuts[:-1], cuts[1:], strict=True))


def tail(p, k):
    """P(X >= k) by enumerating every outcome."""
    if k <= 0:
        return 1.0
    total = 0.0
    for outcome in itertools.product((0, 1), repeat=len(p)):
        if sum(outcome) >= k:
            total += math.prod(pi if o else 1 - pi for pi, o in zip(p, outcome, strict=True))
    return total


def series(trails, crimes, days, max_gap_s=600.0):
    """``{subject: {"n_hits", "expected_hits", "n_unknown", "p_tail", "routine_hits", "long": [(hit, p, n)]}}``.

    ``crimes`` is a list of ``(px, py, r, t1, t2)``; subjects without a hit are left out.
    """
    out = {}
    for s, sid in enumerate(trails.subject_ids.tolist()):
        lo, hi = int(trails.offsets[s]), int(trails.offsets[s + 1])
        t = trails.t_s[lo:hi].tolist()
        wins = prox.windows_of(trails, s)
        long = []
        for px, py, r, t1, t2 in crimes:
            hit = prox.evaluate(trails, s, px, py, r, t1, t2, max_gap_s) is not None
            n = h = 0
            for k in [*range(-days, 0), *range(1, days + 1)]:
                a, b = shifted(t1, k), shifted(t2, k)
                b = max(a, b)
                if not monitored_throughout(wins, a, b) or prox.coverage(t, wins, a, b, max_gap_s) < 0.5:
                    continue
                n += 1
                h += prox.evaluate(trails, s, px, py, r, a, b, max_gap_s) is not None
            long.append((hit, h / n if n else None, n))
        if not any(x[0] for x in long):
            continue
        known = [x for x in long if x[1] is not None]
        out[sid] = {
            "n_hits": sum(x[0] for x in long),
            "expected_hits": sum(x[1] for x in known),
            "n_unknown": len(long) - len(known),
            "p_tail": tail([x[1] for x in known], sum(x[0] for x in known)),
            "routine_hits": sum(1 for x in known if x[0] and x[1] >= 0.5),
            "long": long,
        }
    return out
