"""The evidence table's one-pass kernel against its NumPy twin (tests/naive/evidence.py): identical, bit for bit."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests import strategies as S
from tests.naive import evidence as naive
from trailmon.crs import BNG_CRS
from trailmon.index import TrailIndex
from trailmon.match import _proximity_kernels as K
from trailmon.match import proximity as P
from trailmon.testing import make_trail

pytestmark = pytest.mark.kernels


def assert_identical(got: pa.Table, ref: pa.Table) -> None:
    """Same schema, same dictionaries and codes, floats equal bit for bit (NaN included)."""
    assert got.schema.equals(ref.schema)
    for name in ref.column_names:
        a, b = got.column(name).combine_chunks(), ref.column(name).combine_chunks()
        if pa.types.is_dictionary(b.type):
            assert a.dictionary.equals(b.dictionary), name
            assert a.indices.equals(b.indices), name
        elif pa.types.is_floating(b.type):
            va, vb = a.to_numpy(zero_copy_only=False), b.to_numpy(zero_copy_only=False)
            assert np.array_equal(va.view(np.int64), vb.view(np.int64)), name
        else:
            assert a.equals(b), name


@st.composite
def decorated_trails(draw):
    """Trails with supplied speeds and headings (some missing), flags, WGS84 and, at times, recorded ns."""
    tr = draw(S.trails(max_subjects=3, max_fixes=12))
    n = tr.n_fixes
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    speed = np.where(rng.random(n) < 0.5, np.nan, rng.random(n) * 30)
    heading = np.where(rng.random(n) < 0.5, np.nan, rng.random(n) * 360)
    flags = (rng.random(n) < 0.3).astype(np.int32)
    ft = rng.integers(0, 4, n).astype(np.int8)
    tr = tr._replace(speed_mps=speed, heading_deg=heading, flags=flags, fix_type=ft,
                     lat=50 + tr.y_m / 1e5, lon=-1 + tr.x_m / 1e5)
    if draw(st.booleans()):
        tr = tr._replace(t_ns=(np.round(tr.t_s * 1e3).astype(np.int64) * 1_000_000 + rng.integers(0, 999, n)))
    return tr


@given(decorated_trails(), st.lists(S.crimes(), min_size=1, max_size=4))
def test_evidence_table_matches_numpy_twin(trails, crimes):
    px, py, r, t1, t2 = (np.array(v, dtype=np.float64) for v in zip(*crimes, strict=True))
    idx = TrailIndex.build(trails)
    hits = P.proximity_arrays(idx, px, py, t1, t2, r).hits
    cr = P._Crimes(np.array([f"K{k}" for k in range(len(px))], dtype=object), np.arange(len(px)) + 1, px, py, r,
                   t1, t2)
    got = P._evidence_table(trails, cr, hits.crime, hits.subject, 600.0, BNG_CRS())
    rows = naive.evidence_rows(trails, cr, hits.crime, hits.subject, 600.0)
    ref = naive.evidence_table(trails, cr, hits.crime, hits.subject, 600.0, BNG_CRS(), rows=rows)
    if ref is None:
        assert got is None
        return
    assert_identical(got, ref)


@given(decorated_trails(), st.lists(S.crimes(), min_size=1, max_size=4), st.integers(1, 40))
def test_evidence_batches_are_the_table_in_pieces(trails, crimes, batch_rows):
    """Built batch by batch (counted first, filled a few hits at a time), the rows are the one-shot table's."""
    px, py, r, t1, t2 = (np.array(v, dtype=np.float64) for v in zip(*crimes, strict=True))
    hits = P.proximity_arrays(TrailIndex.build(trails), px, py, t1, t2, r).hits
    cr = P._Crimes(np.array([f"K{k}" for k in range(len(px))], dtype=object), np.arange(len(px)) + 1, px, py, r,
                   t1, t2)
    whole = P._evidence_table(trails, cr, hits.crime, hits.subject, 600.0, BNG_CRS())
    plan = P._evidence_plan(trails, cr, hits.crime, hits.subject, 600.0)
    batches = P.EvidenceBatches(trails, cr, plan, BNG_CRS(), batch_rows=batch_rows)
    parts = list(batches)
    assert len(batches) == (0 if whole is None else whole.num_rows) == sum(t.num_rows for t in parts)
    assert all(t.schema.equals(batches.schema) for t in parts)
    for t in parts:  # at most batch_rows rows, unless one hit alone has more
        hits_in = set(zip(t.column("crime_ref").to_pylist(), t.column("subject_id").to_pylist(), strict=True))
        assert t.num_rows <= batch_rows or len(hits_in) == 1
    if whole is None:
        assert not parts
        return
    plain = pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type)
                       for f in whole.schema])
    assert_identical(batches.to_table().cast(plain), whole.cast(plain))


@pytest.mark.parametrize("keys", [
    [3, 1, 3, 0, 7],       # gaps in the key range
    [5],                   # one key
    [0, 0, 0],             # one distinct key
    [2, 9, 4, 2, 9, 11],   # unsorted, repeats
])
def test_dense_codes_as_unique(keys):
    keys = np.array(keys, dtype=np.int64)
    codes, uniq = K.dense_codes(keys, int(keys.max()) + 1)
    ref_uniq, ref_inv = np.unique(keys, return_inverse=True)
    assert uniq.tolist() == ref_uniq.tolist() and codes.tolist() == ref_inv.tolist()
    codes, uniq = P._dense_codes(np.array([10**15, 3, 10**15], dtype=np.int64))  # a wide range: sorted instead
    assert uniq.tolist() == [3, 10**15] and codes.tolist() == [1, 0, 1]


@pytest.mark.parametrize("num, den, expected", [
    (3.0, 2.0, 1.5),          # an ordinary quotient
    (3.0, 0.0, np.inf),       # NumPy: +inf
    (-3.0, 0.0, -np.inf),     # NumPy: -inf
    (3.0, -0.0, -np.inf),     # the sign of a negative zero counts
    (0.0, 0.0, np.nan),       # NumPy: NaN
])
def test_quotient_as_numpy_divides(num, den, expected):
    with np.errstate(divide="ignore", invalid="ignore"):
        assert np.array_equal(np.float64(num) / np.float64(den), expected, equal_nan=True)
    assert np.array_equal(K._quotient(num, den), expected, equal_nan=True)


@given(S.trails(max_subjects=2, max_fixes=15), S.crimes())
def test_pruned_passes_as_evaluated(trails, crime):
    """Skipping segments whose box is beyond R + slack leaves the passes exactly as the full evaluation finds them."""
    px, py, r, t1, t2 = crime
    tr = trails
    for s in range(tr.n_subjects):
        lo, hi = int(tr.offsets[s]), int(tr.offsets[s + 1])
        wlo, whi = int(tr.win_offsets[s]), int(tr.win_offsets[s + 1])
        k, ivs = K._evidence_passes(tr.t_s, tr.x_m, tr.y_m, tr.accuracy_m, lo, hi, tr.win_start_s, tr.win_end_s,
                                    wlo, whi, px, py, r, t1, t2, 600.0)
        kp, ivp, rows = K._pruned_passes(tr.t_s, tr.x_m, tr.y_m, lo, hi, tr.win_start_s, tr.win_end_s, wlo, whi,
                                         px, py, r, t1, t2, 600.0, 50.0)
        assert kp == k
        assert ivp[:2 * k].tolist() == ivs[:2 * k].tolist()
        e = np.empty(0)
        assert rows == K._evidence_rows(tr.t_s, tr.x_m, tr.y_m, lo, hi, tr.win_start_s, tr.win_end_s, wlo, whi, px,
                                        py, r, t1, t2, 50.0, k, ivs, e, e, e, e, e, e, e, e, False)


@pytest.mark.parametrize("offset_m", [
    0.0,                        # a tangent at R exactly: a pass of one instant
    0.5,                        # beyond R, within the slack: evaluated, no pass
    K.PRUNE_SLACK_M + 0.5,      # beyond R + slack: skipped, no pass
    -30.0,                      # through the circle: one pass
])
def test_pruned_passes_near_the_slack(offset_m):
    r = 100.0
    tr = make_trail([(0, -500.0, r + offset_m), (60, 500.0, r + offset_m)])
    args = (tr.t_s, tr.x_m, tr.y_m)
    full = K._evidence_passes(*args, tr.accuracy_m, 0, 2, tr.win_start_s, tr.win_end_s, 0, 1, 0.0, 0.0, r, 0.0,
                              60.0, 600.0)
    pruned = K._pruned_passes(*args, 0, 2, tr.win_start_s, tr.win_end_s, 0, 1, 0.0, 0.0, r, 0.0, 60.0, 600.0, 50.0)
    assert pruned[0] == full[0] == (1 if offset_m <= 0 else 0)
    assert pruned[1][:2 * full[0]].tolist() == full[1][:2 * full[0]].tolist()
