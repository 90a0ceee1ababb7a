"""Writers by extension: provenance in every format, encodings of SPEC §4."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from trailmon.errors import InputError
from trailmon.report.writers import MARKING, make_provenance, sibling, write_table


@pytest.fixture
def frame():
    return pd.DataFrame({
        "subject_id": ["S1", "S2"],
        "time": pd.to_datetime([1_784_034_000_123_456_789, None], utc=True),
        "lat": [53.8, np.nan], "lon": [-1.55, np.nan], "dwell_s": [12.3456789, 0.0],
        "between_fixes": [True, False], "flags": ["speed_jump", ""],
    })


@pytest.fixture
def prov(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("x\n1\n")
    return make_provenance("test", {"radius_m": 100.0}, transformation={"crs": "EPSG:27700"}, inputs=[src])


def test_csv_header_lines_marking_first(tmp_path, frame, prov):
    out = write_table(frame, tmp_path / "h.csv", prov)
    lines = out.read_text().splitlines()
    assert lines[0] == f"# marking: {MARKING}"
    assert any(line.startswith("# engine: trailmon ") for line in lines)
    assert any(line.startswith("# inputs: ") and "sha256" in line for line in lines)
    body = [line for line in lines if not line.startswith("#")]
    assert body[0] == "subject_id,time,lat,lon,dwell_s,between_fixes,flags"
    assert body[1] == "S1,2026-07-14T13:00:00.123Z,53.8,-1.55,12.3456789,true,speed_jump"
    assert body[2].startswith("S2,,,,0.0,false,")
    side = json.loads((tmp_path / "h.csv.provenance.json").read_text())
    assert side["marking"] == MARKING and side["rows"] == 2


def test_jsonl(tmp_path, frame, prov):
    out = write_table(frame, tmp_path / "h.jsonl", prov)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["between_fixes"] is True and rows[1]["lat"] is None
    assert rows[0]["time"] == "2026-07-14T13:00:00.123Z"


def test_geojson(tmp_path, frame, prov):
    doc = json.loads(write_table(frame, tmp_path / "h.geojson", prov).read_text())
    assert doc["provenance"]["marking"] == MARKING
    assert doc["features"][0]["geometry"] == {"type": "Point", "coordinates": [-1.55, 53.8]}
    assert doc["features"][1]["geometry"] is None


def test_parquet_metadata(tmp_path, frame, prov):
    out = write_table(frame, tmp_path / "h.parquet", prov)
    meta = pq.read_schema(out).metadata
    assert json.loads(meta[b"trailmon:provenance"])["marking"] == MARKING
    assert b"geo" in meta  # GeoParquet where the table has lon/lat
    back = pd.read_parquet(out)
    assert back["dwell_s"].iloc[0] == 12.3456789


def test_unknown_extension(tmp_path, frame, prov):
    with pytest.raises(InputError, match=r"unknown output extension '\.xlsx'.*use one of \.csv, \.jsonl"):
        write_table(frame, tmp_path / "h.xlsx", prov)


def test_sibling():
    assert sibling("out/hits.csv", "evidence").as_posix() == "out/hits.evidence.csv"


def test_arrow_table_same_text_as_frame(tmp_path, frame, prov):
    """An Arrow table (text dictionary-encoded, as proximity's evidence) is written as its DataFrame is."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    k = table.column_names.index("flags")
    table = table.set_column(k, "flags", table.column("flags").dictionary_encode())
    for ext in (".csv", ".jsonl"):
        a = write_table(frame, tmp_path / f"a{ext}", prov).read_text().splitlines()
        b = write_table(table, tmp_path / f"b{ext}", prov).read_text().splitlines()
        assert [x for x in a if not x.startswith("# generated")] == [x for x in b if not x.startswith("# generated")]
    back = pd.read_parquet(write_table(table, tmp_path / "b.parquet", prov))
    assert back["flags"].tolist() == ["speed_jump", ""] and back["time"].iloc[0] == frame["time"].iloc[0]


def test_arrow_dictionaries_read_back_as_plain_parquet(tmp_path, frame, prov):
    """Dictionary columns written as they are read back exactly as the table cast to plain strings would.

    The same Arrow types (the stored ``ARROW:schema`` is the plain one), values and key-value metadata.
    """
    import pyarrow as pa

    from trailmon.report.writers import _plain_strings

    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    for name in ("flags", "subject_id"):
        k = table.column_names.index(name)
        table = table.set_column(k, name, table.column(name).dictionary_encode())
    a = write_table(table, tmp_path / "a.parquet", prov)
    b = write_table(_plain_strings(table), tmp_path / "b.parquet", prov)
    ta, tb = pq.read_table(a), pq.read_table(b)
    assert ta.schema.equals(tb.schema, check_metadata=True) and not any(
        pa.types.is_dictionary(f.type) for f in ta.schema)
    assert ta.to_pandas().equals(tb.to_pandas())
    ma, mb = pq.ParquetFile(a).metadata.metadata, pq.ParquetFile(b).metadata.metadata
    assert ma.keys() == mb.keys() and ma[b"ARROW:schema"] == mb[b"ARROW:schema"]


def test_text_cells_quoted_escaped_and_safe(tmp_path, prov):
    """CSV quoting and the safe-cell rule on text only; JSON string escapes; empty for null and NaN."""
    import pyarrow as pa

    df = pd.DataFrame({"ref": ['a,b', 'say "hi"', "=1+1", "line\nbreak", None, "-x"],
                       "x": [-1.5, 3.0, np.nan, np.inf, 1e-7, -0.0], "n": [1, -2, 3, 4, 5, 6]})
    lines = write_table(df, tmp_path / "c.csv", prov).read_bytes().decode().split("\n")
    body = [line for line in lines if not line.startswith("#")]
    assert body[0] == "ref,x,n"
    assert body[1] == '"a,b",-1.5,1'
    assert body[2] == '"say ""hi""",3.0,-2'
    assert body[3] == "'=1+1,,3"
    assert body[4:6] == ['"line', 'break",inf,4']
    assert body[6].startswith(",1") and body[6].endswith(",5") and float(body[6].split(",")[1]) == 1e-7
    assert body[7] == "'-x,-0.0,6"
    back = pd.read_csv(tmp_path / "c.csv", comment="#", keep_default_na=False)
    assert back["ref"].tolist() == ['a,b', 'say "hi"', "'=1+1", "line\nbreak", "", "'-x"]
    rows = [json.loads(line) for line in write_table(df, tmp_path / "c.jsonl", prov).read_text().splitlines()]
    assert [r["ref"] for r in rows] == ['a,b', 'say "hi"', "=1+1", "line\nbreak", None, "-x"]
    assert [r["x"] for r in rows] == [-1.5, 3.0, None, None, 1e-7, -0.0]
    ctrl = pa.table({"s": pa.array(["a\x01b", "\\"])})
    rows = [json.loads(line) for line in write_table(ctrl, tmp_path / "d.jsonl", prov).read_text().splitlines()]
    assert [r["s"] for r in rows] == ["a\x01b", "\\"]


def test_times_floored_to_the_millisecond_as_recorded(tmp_path, prov):
    ns = np.array([0, 1_784_034_000_123_000_000, 1_784_034_000_999_999_999, -1, 951_782_400_000_000_000],
                  dtype=np.int64)  # 1970, a ms instant, the last ns of a second, before 1970, 2000-02-29
    df = pd.DataFrame({"t": pd.to_datetime(ns, utc=True)})
    body = [x for x in write_table(df, tmp_path / "t.csv", prov).read_text().splitlines() if not x.startswith("#")]
    assert body[1:] == ["1970-01-01T00:00:00.000Z", "2026-07-14T13:00:00.123Z", "2026-07-14T13:00:00.999Z",
                        "1969-12-31T23:59:59.999Z", "2000-02-29T00:00:00.000Z"]


@pytest.mark.kernels
def test_iso_ms_kernel_equals_numpy():
    from trailmon.report._format_kernels import iso_ms_buffer

    rng = np.random.default_rng(3)
    ns = np.r_[rng.integers(-2 * 10**18, 7 * 10**18, 2000), 0, -1, 10**6 - 1].astype(np.int64)
    got = iso_ms_buffer(ns).tobytes().decode()
    want = "".join(s + "Z" for s in np.datetime_as_string(ns.view("datetime64[ns]").astype("datetime64[ms]"),
                                                            unit="ms"))
    assert got == want


def test_geoparquet_points_read_back_with_geopandas(tmp_path, frame, prov):
    import geopandas as gpd

    out = write_table(frame, tmp_path / "g.parquet", prov)
    gdf = gpd.read_parquet(out)
    assert gdf.crs.to_epsg() == 4326
    assert (gdf.geometry.x.iloc[0], gdf.geometry.y.iloc[0]) == (-1.55, 53.8)
    assert gdf.geometry.iloc[1].is_empty  # no position: an empty point, as GeoPandas writes it
    meta = json.loads(pq.read_schema(out).metadata[b"geo"])
    assert meta["columns"]["geometry"]["bbox"] == [-1.55, 53.8, -1.55, 53.8]


@pytest.mark.kernels
def test_point_zero_text_as_arrow_join():
    """Whole floats get ``.0`` in one pass over the bytes: the same text as Arrow's join, nulls kept."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from trailmon.report.writers import _float_text

    v = np.array([1.0, 2.5, np.nan, -0.0, 3.0, 1e20, 1e15, -7.0, np.inf, 123456.789])
    got = _float_text(pa.array(v), "csv")
    text = pa.array(v, mask=np.isnan(v)).cast(pa.large_string())
    whole = np.isfinite(v) & (v == np.trunc(v)) & (np.abs(v) < 1e15)
    dot0, none = pa.scalar(".0", pa.large_string()), pa.scalar("", pa.large_string())
    want = pc.if_else(pa.array(whole), pc.binary_join_element_wise(text, dot0, none), text)
    assert got.to_pylist() == want.to_pylist() and got.null_count == 1
    assert got.to_pylist()[:5] == ["1.0", "2.5", None, "-0.0", "3.0"]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_long_repetitive_text_is_written_as_row_by_row(tmp_path, prov, suffix):
    """A text column long and repetitive enough to be formatted per distinct value (and columns formatted on
    threads) writes the same cells as the same values in short pieces, in every storage of strings."""
    import pyarrow as pa

    values = ['a,b', 'say "hi"', "=1+1", "line\nbreak", None, "-x", "S0001", "", "\x01ctl"]
    rng = np.random.default_rng(7)
    col = [values[k] for k in rng.integers(0, len(values), 20_000)]
    n = np.arange(len(col))
    forms = {"object": pd.DataFrame({"ref": pd.Series(col, dtype=object), "n": n}),
             "str": pd.DataFrame({"ref": pd.Series(col, dtype="str"), "n": n}),
             "arrow": pa.table({"ref": pa.array(col, pa.string()), "n": pa.array(n)})}
    expected = b"".join(  # 2,000-row pieces: below the distinct-value threshold, one thread
        _body(write_table(forms["object"].iloc[a:a + 2_000], tmp_path / f"part{a}{suffix}", prov), suffix, a > 0)
        for a in range(0, len(col), 2_000))
    for name, data in forms.items():
        assert _body(write_table(data, tmp_path / f"{name}{suffix}", prov), suffix) == expected, name


def _body(path, suffix: str, drop_header: bool = False) -> bytes:
    """The rows of a written file: no provenance lines (and no column names for a later CSV piece)."""
    lines = [line for line in path.read_bytes().split(b"\n") if not line.startswith(b"# ")]
    if suffix == ".csv" and drop_header:
        lines = lines[1:]
    return b"\n".join(line for line in lines if line) + b"\n"


class _Batches:
    """Tables built as they are iterated, as :class:`trailmon.match.proximity.EvidenceBatches` gives them."""

    def __init__(self, table, rows: int):
        self.table, self.rows, self.schema = table, rows, table.schema

    def __len__(self) -> int:
        return self.table.num_rows

    def __iter__(self):
        import pyarrow as pa

        for a in range(0, self.table.num_rows, self.rows):
            part = self.table.slice(a, self.rows)  # each batch with its own dictionaries, as built
            yield pa.table([c.combine_chunks().dictionary_decode().dictionary_encode()
                            if pa.types.is_dictionary(c.type) else c for c in part.columns], schema=self.schema)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet", ".geojson"])
def test_table_batches_written_as_the_whole_table(tmp_path, prov, suffix, monkeypatch):
    """Batches (several row batches each) give the file the whole table gives: same bytes for text, the same
    table, plain schema and GeoParquet bounds for Parquet."""
    import pyarrow as pa

    import trailmon.report.writers as W

    monkeypatch.setattr(W, "_BATCH_ROWS", 7)
    rng = np.random.default_rng(5)
    n = 100
    lon = np.where(rng.random(n) < 0.1, np.nan, -2 + rng.random(n))
    table = pa.table({
        "subject_id": pa.array([f"S{k % 7}" for k in range(n)]).dictionary_encode(),
        "time": pa.array(1_784_034_000_000_000_000 + rng.integers(0, 10**12, n), pa.timestamp("ns", tz="UTC")),
        "lon": lon, "lat": 53 + rng.random(n), "within_r": rng.random(n) < 0.5,
        "flags": pa.array(rng.choice(["", "speed_jump", "=x,y"], n)).dictionary_encode(),
    })
    whole = write_table(table, tmp_path / f"whole{suffix}", prov)
    parts = write_table(_Batches(table, 30), tmp_path / f"parts{suffix}", prov)
    if suffix == ".parquet":
        fa, fb = pq.ParquetFile(whole), pq.ParquetFile(parts)
        assert fa.read().to_pandas().equals(fb.read().to_pandas()) and fa.schema_arrow.equals(fb.schema_arrow)
        assert fa.metadata.metadata == fb.metadata.metadata
        assert fb.metadata.num_row_groups == 4
    else:
        strip = (lambda b: b.replace(b"whole", b"parts")) if suffix == ".geojson" else (lambda b: b)
        assert strip(whole.read_bytes()) == parts.read_bytes()
