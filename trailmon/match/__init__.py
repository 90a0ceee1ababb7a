"""Matching: crime-scene proximity, appointment attendance, zones (exact interval arithmetic)."""
