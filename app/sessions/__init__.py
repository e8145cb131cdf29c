"""Session logs posted by partners: ingest (idempotent), list, amend, erase."""
