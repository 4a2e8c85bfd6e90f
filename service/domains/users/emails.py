"""E-mail addresses: validated once, and the key under which each is unique and rate limited."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


def canonical_email(address: str) -> str:
    """The validated, normalised form of an address; ValueError saying what is wrong."""
    try:
        return validate_email(address, check_deliverability=False, test_environment=True).normalized
    except EmailNotValidError as error:
        raise ValueError(str(error)) from None


def email_key(canonical: str) -> str:
    """The key of a canonical address: unique and rate limited case-insensitively."""
    return canonical.lower()


def login_key(username: str) -> str:
    """The key of what a login names: its address's key, or the trimmed text if no address."""
    username = username.strip()
    try:
        return email_key(canonical_email(username))
    except ValueError:
        return username.lower()
