"""Run every benchmark and print one summary table (trailmon | peers | ratio), machine and command.

    python benchmarks/run.py [--quick]

``--quick`` runs the workloads at a tenth of the national day (for a smoke run); the figures
recorded in README.md come from the full run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from _common import RESULTS, machine

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    subjects = "500" if args.quick else "5000"
    crimes = "1000" if args.quick else "10000"
    scripts = [
        ["bench_import.py"],
        ["bench_index.py", "--subjects", subjects],
        ["bench_ingest.py", "--subjects", "70" if args.quick else "700", subjects],
        ["bench_proximity.py", "--subjects", subjects, "--crimes", crimes],
        ["bench_query.py", "--subjects", subjects, "--queries", "200" if args.quick else "2000"],
        ["bench_attendance.py", "--subjects", subjects],
        # a 29-day store of 5,000 subjects (196 M fixes) does not fit this machine's memory: 1,000 subjects
        ["bench_series.py", "--subjects", "100" if args.quick else "1000"],
        ["bench_associations.py", "--subjects", subjects],
        ["bench_cli.py", "--subjects", subjects, "--crimes", crimes, "--appointments", subjects, "--repeat", "1"],
    ]
    for cmd in scripts:
        print(f"\n$ python benchmarks/{' '.join(cmd)}", flush=True)
        subprocess.run([sys.executable, str(HERE / cmd[0]), *cmd[1:]], check=True, cwd=HERE)
    m = machine()
    print(f"\nmachine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; python {m['python']}; commit {m['commit']}")
    prox = json.loads((RESULTS / "proximity.json").read_text())
    print(f"trailmon 10k crimes (2 threads): {prox['hits_2t_s']:.3f} s | GeoPandas sjoin {prox['geopandas_s']:.2f} s "
          f"({prox['geopandas_s'] / prox['hits_2t_s']:.0f}x) | pymeos (scaled) {prox['pymeos_scaled_s']:.0f} s "
          f"({prox['pymeos_scaled_s'] / prox['hits_2t_s']:.0f}x)")


if __name__ == "__main__":
    main()
