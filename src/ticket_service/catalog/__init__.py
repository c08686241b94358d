"""The catalog of internal services (IT, HR, office, ...) that tickets are addressed to."""
