"""The only numba decorators in trailmon.

``kernel`` compiles a function once per signature and caches it on disk; ``parallel_kernel``
adds ``parallel=True`` and is used on outer loops (``prange``) only. Flags live here and
nowhere else, so ``NUMBA_DISABLE_JIT=1`` turns every kernel into plain Python for tests
and coverage.
"""

from __future__ import annotations

import numba as nb

__all__ = ["kernel", "parallel_kernel", "prange"]

FASTMATH = False  # exactness first: no reassociation of the quadratic's terms

kernel = nb.njit(nogil=True, cache=True, fastmath=FASTMATH)
parallel_kernel = nb.njit(nogil=True, cache=True, parallel=True, fastmath=FASTMATH)
prange = nb.prange
