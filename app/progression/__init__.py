"""The progression engine: pure rules over a ladder's data and a person's sessions."""
