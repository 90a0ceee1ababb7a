"""Shared test configuration: hypothesis profile, paths to the shared real data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO.parent / "shared" / "data").resolve()
SHARED_ACCEPTANCE = (REPO.parent / "shared" / "acceptance").resolve()

settings.register_profile(
    "trailmon",
    max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=bool(os.environ.get("CI")),
)
settings.load_profile("trailmon")


def shared_file(*parts: str) -> Path:
    """A file under ../shared/data, or skip the test saying why."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data {path} is absent (../shared/data is not part of this checkout)")
    return path


@pytest.fixture
def shared_data() -> Path:
    """The ../shared/data folder, or skip with the reason."""
    if not SHARED_DATA.exists():
        pytest.skip(f"{SHARED_DATA} is absent (../shared/data is not part of this checkout)")
    return SHARED_DATA


def _hold_lock(path: str, what: str, ready, release) -> None:
    from trailmon.store.trails import StoreLock

    with StoreLock(Path(path) / ".lock", what):
        ready.set()
        release.wait(60)


class held_lock:  # noqa: N801 - used like a function in ``with``
    """Hold a store's lock from another process (the lock is re-entrant within one process)."""

    def __init__(self, store_path, what: str = "nightly") -> None:
        import multiprocessing as mp

        ctx = mp.get_context("fork")
        self._ready, self._release = ctx.Event(), ctx.Event()
        self._proc = ctx.Process(target=_hold_lock, args=(str(store_path), what, self._ready, self._release))

    def __enter__(self):
        self._proc.start()
        if not self._ready.wait(30):
            raise RuntimeError("the lock-holding process did not start")
        return self

    def __exit__(self, *exc) -> None:
        self._release.set()
        self._proc.join(30)


def assert_rows_close(got, expected, *, abs: float = 1e-9) -> None:  # noqa: A002 - pytest.approx's name
    """Lists of equal-length number tuples equal within ``abs`` (pytest.approx takes no nested data)."""
    got, expected = [tuple(r) for r in got], [tuple(r) for r in expected]
    assert len(got) == len(expected), (got, expected)
    for g, e in zip(got, expected, strict=True):
        assert g == pytest.approx(e, abs=abs), (got, expected)
