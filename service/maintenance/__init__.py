"""Maintenance commands that run outside requests (`tasks-api purge`)."""
