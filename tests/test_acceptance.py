"""The public acceptance cases of the CLI contract (../shared/acceptance), run against this build."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import SHARED_ACCEPTANCE

pytestmark = pytest.mark.slow


def test_public_acceptance_cases(tmp_path):
    if not (SHARED_ACCEPTANCE / "check.py").exists():
        pytest.skip(f"{SHARED_ACCEPTANCE} is absent (../shared is not part of this checkout)")
    exe = shutil.which("trailmon")
    if exe is None:
        pytest.skip("the trailmon console script is not installed (pip install -e .)")
    cases = tmp_path / "cases"
    subprocess.run([sys.executable, str(SHARED_ACCEPTANCE / "make_cases.py"), str(cases)], check=True,
                   capture_output=True, timeout=120)
    p = subprocess.run([sys.executable, str(SHARED_ACCEPTANCE / "check.py"), str(cases), "--trailmon", exe],
                       capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert p.stdout.strip().splitlines()[-1].endswith(", 0 failed")
