"""Reports: writers by extension with provenance, one function per run, crime / cohort / subject reports."""
