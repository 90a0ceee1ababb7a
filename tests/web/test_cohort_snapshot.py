"""The web cohort report reads fixes and monitoring windows from one trail-store generation (SPEC §8)."""

from __future__ import annotations

from tests.web.conftest import SAMPLE, sign_in
from trailmon.cli import main
from trailmon.store.trails import TrailStore


def test_cohort_report_reads_one_generation_while_an_ingest_commits(client, store, tmp_path, monkeypatch):
    lines = (SAMPLE / "subjects.csv").read_text().splitlines()
    late = tmp_path / "subjects-late.csv"  # N02's monitoring ends on 14 July in the generation committed mid-report
    late.write_text("\n".join([lines[0], *(ln.replace("2027-03-01T00:00:00Z", "2026-07-14T12:00:00Z")
                                           for ln in lines[1:] if ln.startswith("N02,"))]) + "\n")
    seen: list[tuple[str, int]] = []
    real_read, real_subjects = TrailStore.read, TrailStore.subjects

    def read(self, *a, **kw):
        out = real_read(self, *a, **kw)
        seen.append(("read", int(self.manifest["generation"])))
        if sum(w == "read" for w, _ in seen) == 1:  # a writer commits between the report's two reads
            assert main(["ingest", "--store", str(store), "--subjects", str(late)]) == 0
        return out

    def subjects(self, *a, **kw):
        seen.append(("subjects", int(self.manifest["generation"])))
        return real_subjects(self, *a, **kw)

    monkeypatch.setattr(TrailStore, "read", read)
    monkeypatch.setattr(TrailStore, "subjects", subjects)
    before = int(TrailStore(store).manifest["generation"])
    sign_in(client, "ana")
    r = client.get("/cohort/report?from=2026-07-13&to=2026-07-16")
    assert r.status_code == 200
    assert int(TrailStore(store).manifest["generation"]) > before  # the ingest did commit meanwhile
    assert {"read", "subjects"} <= {w for w, _ in seen}
    assert {g for _, g in seen} == {before}, seen  # every read of the report saw the generation it began on
