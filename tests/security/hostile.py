"""One generated input set whose every free-text field carries hostile payloads (SPEC §9 tests).

Built from the shipped sample (one week's subjects, one morning of trails, every fourth fix, crimes,
appointments, zones) by renaming: subject ids, CRNs, offender managers, crime references, offences, forces, appointment
ids and types, zone ids and police.uk location text each get a payload of
:data:`tests.security.jscheck.PAYLOADS` (HTML, attribute breakers, backticks, ``${}``,
``</script>``, formula prefixes, CR/LF, very long strings). ``N09`` keeps its id (the demo's
supervision pack is of N09) but carries payloads in its other fields.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tests.security.jscheck import PAYLOADS

SAMPLE = Path(__file__).resolve().parents[2] / "sample_traces"
DAY = "day-2026-07-14.csv"
SHORT = [p for p in PAYLOADS if len(p) < 200]


def payload(k: int) -> str:
    return SHORT[k % len(SHORT)]


def _rows(path: Path) -> tuple[list[str], list[dict]]:
    with path.open(newline="", encoding="utf-8") as f:
        r = csv.DictReader(f)
        return list(r.fieldnames or []), list(r)


def _write(path: Path, fields: list[str], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def make_hostile_sample(dest: Path) -> dict[str, str]:
    """Write the hostile sample into ``dest`` (shaped like ``sample_traces/``); returns the subject renames."""
    fields, subjects = _rows(SAMPLE / "subjects.csv")
    rename = {}
    for k, s in enumerate(subjects):
        sid = s["subject_id"]
        rename[sid] = sid if sid == "N09" else f"{sid}{payload(k)}"
        s["subject_id"] = rename[sid]
        s["crn"] = payload(k + 1)
        s["offender_manager"] = payload(k + 2) + ("L" * 3000 if k == 0 else "")
        s["pnc_id"] = payload(k + 3)
    _write(dest / "subjects.csv", fields, subjects)

    fields, fixes = _rows(SAMPLE / "trails" / DAY)
    fixes = [f for k, f in enumerate(fixes) if k % 4 == 0 and "T06" <= f["timestamp"][10:13] <= "T14"]
    for f in fixes:
        f["subject_id"] = rename.get(f["subject_id"], f["subject_id"])
    fixes.append({**fixes[0], "lat": "not a number", "subject_id": payload(0)})  # a quarantined row
    _write(dest / "trails" / DAY, fields, fixes)

    fields, crimes = _rows(SAMPLE / "crimes" / "crimes.csv")
    for k, c in enumerate(crimes):
        c["crime_ref"] = f"{c['crime_ref']}{payload(k)}"
        c["offence"] = payload(k + 1)
        c["force"] = payload(k + 2)
    _write(dest / "crimes" / "crimes.csv", fields, crimes)

    fields, uk = _rows(SAMPLE / "crimes" / "police_uk_street.csv")
    for k, c in enumerate(uk[:20]):
        c["Location"] = "On or near " + payload(k)
        c["Crime ID"] = c["Crime ID"][:20] + payload(k + 1)
    _write(dest / "crimes" / "police_uk_street.csv", fields, uk[:20])

    fields, appts = _rows(SAMPLE / "appointments.csv")
    for k, a in enumerate(appts):
        a["appointment_id"] = f"A{k}{payload(k)}"
        a["subject_id"] = rename.get(a["subject_id"], a["subject_id"])
        a["appointment_type"] = payload(k + 4)
    _write(dest / "appointments.csv", fields, appts)

    fields, zones = _rows(SAMPLE / "zones.csv")
    for k, z in enumerate(zones):
        z["zone_id"] = f"Z{k}{payload(k + 2)}"
        z["subject_id"] = rename.get(z["subject_id"], z["subject_id"])
    _write(dest / "zones.csv", fields, zones)
    return rename
