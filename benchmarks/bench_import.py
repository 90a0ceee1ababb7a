"""CLI start-up: `trailmon --help` and `import trailmon` in a fresh process (xarray's timeraw_import)."""

from __future__ import annotations

import subprocess
import sys
import time

from _common import save, table


def time_fresh(cmd: list[str], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    rows = [
        ("python -c pass", time_fresh([sys.executable, "-c", "pass"])),
        ("import trailmon", time_fresh([sys.executable, "-c", "import trailmon"])),
        ("trailmon --help", time_fresh([sys.executable, "-m", "trailmon", "--help"])),
        ("import trailmon.match.proximity", time_fresh([sys.executable, "-c", "import trailmon.match.proximity"])),
    ]
    print(table([(name, f"{s * 1000:.0f} ms") for name, s in rows], ("what", "best of 5 (fresh process)")))
    save("import", {"timings_s": dict(rows)})


if __name__ == "__main__":
    main()
