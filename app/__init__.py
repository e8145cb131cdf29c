"""Stepwise: an exercise-progression API (catalogue, session logs, recommendations)."""
