"""A local simulator of the Cliniko public API (v1), built from providers/cliniko.md."""
