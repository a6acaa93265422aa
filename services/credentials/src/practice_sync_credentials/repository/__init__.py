"""Data access: SQLAlchemy Core statements on an open session; no business rules, no commits."""
