"""Tasks: each user's own tasks, with ETags, keyset pagination and idempotent creation."""
