"""A fake hosted Inherence policy server for integration tests and benchmarks.

A real HTTP/1.1 server on 127.0.0.1 that speaks the hosted protocol and can be scripted, per
endpoint, to allow, deny, ask for a confirmation, stall, fail or hang up, and that records
every request it received (outcome reports too).
"""

from __future__ import annotations

from ._behaviours import (
    Allow,
    AllowWithLog,
    Behaviour,
    CloseConnection,
    Confirm,
    Delay,
    Deny,
    Exchange,
    Hangup,
    MalformedJson,
    MissingFields,
    Outcome,
    Reply,
    Response,
    Sequence,
    StallAfterHeaders,
    Status,
    Withhold,
)
from ._hosted import ENDPOINTS, Hosted, category_for
from ._records import Headers, RecordedRequest
from ._server import FakePolicyServer, endpoint_path

__all__ = [
    "ENDPOINTS",
    "Allow",
    "AllowWithLog",
    "Behaviour",
    "CloseConnection",
    "Confirm",
    "Delay",
    "Deny",
    "Exchange",
    "FakePolicyServer",
    "Hangup",
    "Headers",
    "Hosted",
    "MalformedJson",
    "MissingFields",
    "Outcome",
    "RecordedRequest",
    "Reply",
    "Response",
    "Sequence",
    "StallAfterHeaders",
    "Status",
    "Withhold",
    "category_for",
    "endpoint_path",
]
