"""Database layer: declarative base, engine and sessions, migration runner."""
