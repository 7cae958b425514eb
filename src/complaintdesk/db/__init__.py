"""Tables, engine and sessions, queries; Alembic migrations live in ``migrations/``."""
