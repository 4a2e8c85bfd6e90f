"""Users: registration, login, access and refresh tokens, login rate limiting."""
