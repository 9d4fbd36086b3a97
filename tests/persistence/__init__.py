"""Tests of persistence/: engine, models, Alembic migrations and repositories."""
