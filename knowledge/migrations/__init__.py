"""Alembic migrations of the knowledge store (applied by ``Store.open``)."""
