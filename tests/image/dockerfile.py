"""Reading a Dockerfile: its instructions, continuation lines joined."""

from __future__ import annotations


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) of each instruction, continuation lines joined."""
    result, logical = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        keyword, _, rest = (logical + line).partition(" ")
        result.append((keyword.upper(), rest.strip()))
        logical = ""
    return result
