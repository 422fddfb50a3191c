"""Path spellings that must not slip past a protected prefix ("/api", with "/x" exempt)."""

from __future__ import annotations

__all__ = ["BYPASSES"]

#: Each reaches something under "/api" once a server or framework decodes or normalises it.
BYPASSES = [
    "//api/x",
    "/api//x",
    "/api/./x",
    "/./api",
    "/./api/x",
    "/x/../api/x",
    "/../api/x",
    "/api/x/..",
    "/api/x/../",
    "/api/..",
    "/api/x/../..",
    "/api/",
    "/api//",
    "/api%2Fx",
    "/api%2fx",
    "/%61pi/x",
    "/%61%70%69",
    "/%2Fapi",
    "/x/%2e%2e/api/x",
    "/api/%2E%2E",
]
