"""The login limits (failed logins per e-mail and address, per address, per e-mail), and
the registration limit (registrations per address).

The first two stop one client, with a doubling back-off before their hard limit;
the third is a ceiling far above anyone's own mistakes, against many addresses
guessing one account. None of them can be used by one address to lock the owner
out from theirs. The registration limit bounds what one address learns of which
e-mails have accounts (409) and how many accounts it creates (201).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from service.config import Settings
from service.core.throttle import FailureWindow

LOGIN_WINDOW = timedelta(minutes=15)
REGISTRATION_WINDOW = timedelta(hours=1)


def registration_limit(settings: Settings) -> FailureWindow:
    """Registrations per client address within the hour: a plain window, no back-off."""
    limit = settings.registration_max_per_address
    return FailureWindow("registration", limit, REGISTRATION_WINDOW, limit)


def _backoff_from(limit: int) -> int:
    # Half of a client's limit is free; each failure after that doubles the wait.
    return max(1, (limit + 1) // 2)


@dataclass(frozen=True)
class LoginLimits:
    """The three failure windows of logins, from the settings."""

    account_address: FailureWindow
    address: FailureWindow
    account: FailureWindow

    @classmethod
    def of(cls, settings: Settings) -> LoginLimits:
        """The limits the settings configure."""
        pair = settings.login_max_failures_per_account_address
        address = settings.login_max_failures_per_address
        account = settings.login_max_failures_per_account
        return cls(
            account_address=FailureWindow("login", pair, LOGIN_WINDOW, _backoff_from(pair)),
            address=FailureWindow("login-address", address, LOGIN_WINDOW, _backoff_from(address)),
            account=FailureWindow("login-account", account, LOGIN_WINDOW, account),
        )


@dataclass(frozen=True)
class LoginFailures:
    """The failures each limit counts for one login (newest first)."""

    account_address: Sequence[datetime]
    address: Sequence[datetime]
    account: Sequence[datetime]

    def retry_after(self, limits: LoginLimits, now: datetime) -> int:
        """Seconds until a login is allowed; 0 when it is allowed now."""
        return max(
            limits.account_address.retry_after(self.account_address, now),
            limits.address.retry_after(self.address, now),
            limits.account.retry_after(self.account, now),
        )

    def at_a_limit(self, limits: LoginLimits) -> bool:
        """Whether any of the windows holds as many failures as it allows (not a back-off)."""
        return (
            len(self.account_address) >= limits.account_address.limit
            or len(self.address) >= limits.address.limit
            or len(self.account) >= limits.account.limit
        )

    def with_failure(self, at: datetime) -> LoginFailures:
        """The failures once this attempt counts as one too."""
        return replace(
            self,
            account_address=[at, *self.account_address],
            address=[at, *self.address],
            account=[at, *self.account],
        )

    def forgiven(self) -> LoginFailures:
        """The failures once the owner logged in from this address: theirs are forgotten.

        The per-address count still includes them (it may only overstate).
        """
        return replace(self, account_address=[])

    def headers(self, limits: LoginLimits, now: datetime) -> dict[str, str]:
        """`RateLimit-Policy` and `RateLimit` fields of the limits a client has in hand.

        The per-e-mail ceiling is left out: it is not the client's own quota.
        """
        pair, address = limits.account_address, limits.address
        return {
            "RateLimit-Policy": f"{pair.describe()}, {address.describe()}",
            "RateLimit": (
                f"{pair.state(self.account_address[: pair.limit], now)}, "
                f"{address.state(self.address[: address.limit], now)}"
            ),
        }
