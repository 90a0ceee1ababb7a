"""Output columns, defined once (SPEC §3-§5). Writers and frames use these lists verbatim."""

from __future__ import annotations

HITS = [
    "crime_ref", "crime_version", "subject_id", "min_distance_m", "closest_time", "first_within",
    "last_within", "dwell_s", "passes", "n_fixes_within", "between_fixes", "accuracy_m", "confidence",
    "coverage", "flags",
]
EVIDENCE = [
    "crime_ref", "crime_version", "subject_id", "label", "pass", "seq", "kind", "time", "lat", "lon",
    "easting", "northing", "distance_m", "within_r", "accuracy_m", "speed_kmh", "heading_deg", "fix_type",
    "flags",
]
GAPS = [
    "crime_ref", "crime_version", "subject_id", "gap_start", "gap_end", "gap_s", "before_distance_m",
    "after_distance_m", "coverage", "min_speed_kmh", "reachable_by",
]
SERIES = ["subject_id", "n_hits", "expected_hits", "n_unknown", "p_tail", "routine_hits"]
SERIES_LONG = ["subject_id", "crime_ref", "crime_version", "hit", "p", "counted_days"]
ASSOCIATIONS = [
    "subject_a", "subject_b", "start", "end", "duration_s", "min_distance_m", "closest_time", "lat", "lon",
    "easting", "northing",
]
ATTENDANCE = [
    "appointment_id", "subject_id", "start", "end", "inside_s", "arrival", "departure", "coverage", "status",
    "flags", "outcome",
]
ZONES = ["zone_id", "subject_id", "kind", "event", "start", "end", "duration_s"]
TRAIL = [
    "subject_id", "time", "lat", "lon", "easting", "northing", "accuracy_m", "fix_type", "speed_kmh",
    "heading_deg", "flags",
]

# Canonical frames the readers return (accepted rows), before any matching.
TRAIL_INPUT = [
    "subject_id", "t_ns", "x_m", "y_m", "lat", "lon", "accuracy_m", "fix_type", "speed_mps", "heading_deg",
]
CRIME_INPUT = [
    "crime_ref", "crime_version", "offence", "offence_group", "x_m", "y_m", "lat", "lon", "committed_from",
    "committed_to", "radius_m", "force", "batch_id", "source_format",
]
SUBJECT_INPUT = [
    "subject_id", "cohort", "monitoring_start", "monitoring_end", "crn", "pnc_id", "nomis_id",
    "offender_manager", "flags",
]
APPOINTMENT_INPUT = [
    "appointment_id", "subject_id", "start", "end", "appointment_type", "center_x_m", "center_y_m", "radius_m",
    "geometry",
]
ZONE_INPUT = [
    "zone_id", "subject_id", "kind", "active_from", "active_to", "daily_start", "daily_end", "center_x_m",
    "center_y_m", "radius_m", "geometry",
]
