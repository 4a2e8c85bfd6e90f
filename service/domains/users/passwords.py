"""Password rules beyond length: not only whitespace, not one of the most common passwords."""

from __future__ import annotations

import gzip
from functools import lru_cache
from importlib import resources

# Shipped in the wheel beside this module; its origin and licence are in the .LICENSE file.
COMMON_PASSWORDS_FILE = "common-passwords.txt.gz"


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The most common passwords, lower case (read once per process)."""
    data = resources.files(__package__).joinpath(COMMON_PASSWORDS_FILE).read_bytes()
    lines = gzip.decompress(data).decode("utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip())


def is_common(password: str) -> bool:
    """Whether the password is one of the most common ones, ignoring case."""
    return password.lower() in common_passwords()


def check_password(password: str) -> str:
    """The password when it is acceptable; ValueError (a 422) naming the rule it breaks."""
    if "\x00" in password:
        raise ValueError("must not contain NUL")
    if password.isspace():
        raise ValueError("must not be only whitespace")
    if is_common(password):
        raise ValueError("is one of the most common passwords; choose another")
    return password
