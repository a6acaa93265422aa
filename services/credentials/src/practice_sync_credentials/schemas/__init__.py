"""Request and response bodies. Admin-facing models have no field that could carry a secret."""
