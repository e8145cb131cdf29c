"""The exercise catalogue: content files, their sync into the database, and the read API."""
