"""Schema migrations of the cem app (Tortoise built-in migrations)."""
