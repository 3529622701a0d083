"""Request bodies of the dashboard and the admin API, bounded while they are read.

A declared length over the limit is refused before a byte is read; a body without one is read
chunk by chunk and reading stops as soon as it passes the limit, so a huge upload costs the
server one chunk of memory, not the upload.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from starlette.requests import Request

from inherence_policy_server._http import BodyTooLarge, ClientGone, content_length, read_body

__all__ = ["MAX_BODY_BYTES", "BodyRefused", "form_fields", "json_object"]

MAX_BODY_BYTES = 64 * 1024


class BodyRefused(Exception):
    """The body cannot be used: `status` and `detail` say why (413 too large, 400 not what was expected)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


async def _bounded(request: Request, limit: int) -> bytes:
    declared = content_length(request.scope)
    if declared is not None and declared > limit:
        raise BodyRefused(413, f"the body is over the limit of {limit} bytes")
    try:
        return await read_body(request.receive, limit)
    except BodyTooLarge:
        raise BodyRefused(413, f"the body is over the limit of {limit} bytes") from None
    except ClientGone:
        raise BodyRefused(400, "the client went away before the body arrived") from None


async def form_fields(request: Request, limit: int = MAX_BODY_BYTES) -> dict[str, str]:
    """The fields of a url-encoded form (the last value of each name)."""
    body = await _bounded(request, limit)
    try:
        parsed = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=1000)
    except ValueError:
        raise BodyRefused(400, "the form has too many fields") from None
    return {name: values[-1] for name, values in parsed.items()}


async def json_object(request: Request, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The body as a JSON object (an empty body is `{}`); `BodyRefused` for anything else."""
    body = await _bounded(request, limit)
    try:
        value = json.loads(body or b"{}", parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise BodyRefused(400, "expected a JSON object") from None
    if not isinstance(value, dict):
        raise BodyRefused(400, "expected a JSON object")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
