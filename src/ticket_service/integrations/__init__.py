"""Front doors to other platforms (Discord)."""
