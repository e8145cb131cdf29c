"""Users' free text (session notes, clearance and outcome notes, and stored answers holding
them) kept encrypted at rest, each user's under a key of their own, so that deleting the key
with the user leaves whatever copies the database files still hold unreadable."""
