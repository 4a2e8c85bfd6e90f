"""`tasks-api probe URL`: an HTTP check for images that have no shell or curl."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit


def probe(url: str, timeout: float) -> int:
    """Exit code 0 when URL answers 2xx within the timeout, 1 otherwise."""
    if urlsplit(url).scheme not in {"http", "https"}:
        sys.stderr.write(f"probe: only http and https URLs are supported: {url}\n")
        return 2
    request = urllib.request.Request(url, headers={"User-Agent": "tasks-api-probe"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status = int(response.status)
    except urllib.error.HTTPError as error:
        status = error.code
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        sys.stderr.write(f"probe: {url} unreachable: {reason}\n")
        return 1
    print(f"probe: {url} answered {status}")
    return 0 if 200 <= status < 300 else 1
