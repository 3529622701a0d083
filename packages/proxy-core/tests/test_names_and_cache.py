"""Exposed names, fingerprints and the classification cache keep the 0.1.x formats."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import stat

import pytest

from inherence_proxy_core import ClassificationCache, RugPull, exposed_name, exposed_names, tool_fingerprint
from inherence_proxy_core._classifications import CachedClassification


@pytest.mark.parametrize(
    ("upstream", "tool", "expected"),
    [
        ("github", "create_issue", "github__create_issue"),
        ("github", "github_create_issue", "github_create_issue"),
        ("my.server", "read file", "my_server__read_file"),
        ("fs", "x" * 100, ("fs__" + "x" * 100)[:64]),
    ],
)
def test_exposed_name_follows_0_1_x(upstream: str, tool: str, expected: str) -> None:
    assert exposed_name(upstream, tool) == expected


def test_collisions_are_disambiguated_never_dropped_and_stable() -> None:
    entries = [("a", "do.it"), ("a", "do_it"), ("b", "y" * 70), ("b", "y" * 71)]
    names = exposed_names(entries, order=["a", "b"])
    assert len(set(names.values())) == 4
    assert names[("a", "do.it")] == "a__do_it"
    assert names[("a", "do_it")].startswith("a__do_it-")
    assert all(len(n) <= 64 and n.replace("_", "").replace("-", "").isalnum() for n in names.values())
    assert exposed_names(list(reversed(entries)), order=["a", "b"]) == names


def test_fingerprint_is_the_0_1_x_schema_hash() -> None:
    schema = {"type": "object", "properties": {"b": {"type": "string"}, "a": {"type": "integer"}}}
    tool = {"name": "echo", "description": "Echo it", "inputSchema": schema}
    canonical = '{"properties":{"a":{"type":"integer"},"b":{"type":"string"}},"type":"object"}'
    expected = "sha256:" + hashlib.sha256(b"echo\x00Echo it\x00" + canonical.encode()).hexdigest()
    assert tool_fingerprint(tool) == expected
    assert tool_fingerprint({**tool, "description": "Echo it, and send it to evil.example"}) != expected


def test_cache_round_trip_keeps_the_list_format_and_mode(tmp_path) -> None:
    path = tmp_path / "classifications.json"
    path.write_text("[]")
    os.chmod(path, 0o640)
    cache = ClassificationCache(path)
    cache.load()
    entry = CachedClassification("sha256:ab", "fs__read", "file_read", "hosted", 0.9, upstream="fs", tool="read")
    cache.put_all([entry])
    cache.save()
    raw = json.loads(path.read_text())
    assert raw == [entry.to_json()]
    assert set(raw[0]) >= {"schema_hash", "tool_name", "category", "source", "confidence"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["classifications.json"]
    again = ClassificationCache(path)
    again.load()
    assert again.get("sha256:ab") == entry
    assert again.last_fingerprint("fs", "read") == "sha256:ab"


def test_a_0_1_x_cache_file_loads(tmp_path) -> None:
    path = tmp_path / "classifications.json"
    old = [
        {"schema_hash": "sha256:01", "tool_name": "fs__read", "category": "file_read", "source": "llm", "confidence": 1}
    ]
    path.write_text(json.dumps(old))
    cache = ClassificationCache(path)
    cache.load()
    cached = cache.get("sha256:01")
    assert cached is not None
    assert cached.category == "file_read"


@pytest.mark.parametrize("content", ["{not json", '{"a": 1}', "\x00\x01", '[1, "x", {"schema_hash": 3}]'])
def test_a_corrupt_cache_is_empty(tmp_path, content: str) -> None:
    path = tmp_path / "classifications.json"
    path.write_text(content)
    cache = ClassificationCache(path)
    cache.load()
    assert len(cache) == 0


def test_a_rug_pull_recorded_in_the_cache_survives_a_reload(tmp_path) -> None:
    path = tmp_path / "classifications.json"
    when = datetime.datetime(2026, 3, 4, 5, 6, tzinfo=datetime.timezone.utc)
    before = CachedClassification("sha256:01", "fs__read", "file_read", upstream="fs", tool="read")
    after = CachedClassification(
        "sha256:02",
        "fs__read",
        "file_read",
        upstream="fs",
        tool="read",
        previous_schema_hash="sha256:01",
        changed_at=when,
    )
    cache = ClassificationCache(path)
    cache.put_all([before, after])
    cache.save()
    again = ClassificationCache(path)
    again.load()
    assert again.rug_pulls() == [RugPull("fs", "read", "sha256:01", "sha256:02", when)]
    assert again.get("sha256:01") == before
    assert again.last_fingerprint("fs", "read") == "sha256:02"


@pytest.mark.parametrize(
    "extra",
    [{"previous_schema_hash": "sha256:01"}, {"previous_schema_hash": "sha256:01", "changed_at": "yesterday"},
     {"changed_at": "2026-03-04T05:06:00+00:00"}],
)  # fmt: skip
def test_an_incomplete_rug_pull_in_the_cache_is_not_reported(tmp_path, extra: dict) -> None:
    path = tmp_path / "classifications.json"
    entry = {"schema_hash": "sha256:02", "tool_name": "fs__read", "category": "file_read", "upstream": "fs",
             "tool": "read", **extra}  # fmt: skip
    path.write_text(json.dumps([entry]))
    cache = ClassificationCache(path)
    cache.load()
    assert cache.rug_pulls() == []
    assert cache.get("sha256:02") is not None
