"""Cross-cutting pieces: errors, logging, middleware, lifecycle."""
