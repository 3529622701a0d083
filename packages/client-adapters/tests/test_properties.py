"""Property tests over random JSON documents: wrap then restore is byte-identical, and only our errors escape."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inherence_client_adapters import ClientConfigError, HostEnvironment, ProxyCommand, get_adapter

KEYS = st.text(min_size=1, max_size=8)
SCALARS = st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.text(max_size=10)
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3), max_leaves=8
)
ENTRY = st.fixed_dictionaries(
    {"command": st.text(min_size=1, max_size=10)},
    optional={"args": st.lists(st.text(max_size=5), max_size=3), "env": st.dictionaries(KEYS, st.text(max_size=5))},
)
SERVERS = st.dictionaries(KEYS.filter(lambda key: key != "inherence"), ENTRY, max_size=3)
DOCUMENTS = st.tuples(
    st.dictionaries(KEYS.filter(lambda key: key != "mcpServers"), VALUES, max_size=4), st.none() | SERVERS
)
INDENTS = st.sampled_from([None, 2, 4, "\t"])
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _cursor_file(folder: Path, data: bytes):
    host = HostEnvironment(home=folder, platform="linux", variables={})
    location = get_adapter("cursor").candidates(host)[0]
    location.path.parent.mkdir(parents=True)
    location.path.write_bytes(data)
    return location


@SETTINGS
@given(document=DOCUMENTS, indent=INDENTS, position=st.integers(0, 4), newline=st.sampled_from(["\n", "\r\n"]))
def test_wrap_then_restore_round_trips_any_document(document, indent, position, newline) -> None:
    settings_part, servers = document
    items = list(settings_part.items())
    if servers is not None:
        items.insert(min(position, len(items)), ("mcpServers", servers))
    text = json.dumps(dict(items), indent=indent, ensure_ascii=position % 2 == 0).replace("\n", newline)
    with tempfile.TemporaryDirectory() as folder:
        location = _cursor_file(Path(folder), text.encode("utf-8"))
        adapter = get_adapter("cursor")
        proxy = ProxyCommand(Path(folder) / "inherence-proxy")
        result = adapter.wrap(location, proxy)
        wrapped = json.loads(location.path.read_text(encoding="utf-8"))
        assert wrapped.pop("mcpServers") == {
            "inherence": {"command": str(proxy.executable), "args": ["serve", "cursor"]}
        }
        assert wrapped == settings_part
        assert [entry.name for entry in result.servers] == list(servers or {})
        adapter.restore(location)
        assert location.path.read_bytes() == text.encode("utf-8")


@SETTINGS
@given(text=st.text(max_size=60) | st.from_regex(r'\{"mcpServers": ?\{.{0,20}\}\}', fullmatch=True))
def test_any_text_gives_our_errors_or_a_clean_wrap(text) -> None:
    with tempfile.TemporaryDirectory() as folder:
        location = _cursor_file(Path(folder), text.encode("utf-8"))
        adapter = get_adapter("cursor")
        try:
            adapter.wrap(location, ProxyCommand(Path(folder) / "inherence-proxy"))
        except ClientConfigError:
            assert location.path.read_bytes() == text.encode("utf-8")
            return
        adapter.restore(location)
        assert location.path.read_bytes() == text.encode("utf-8")
