"""The analysis limits: a call at a limit is read as usual, one past it is denied unread."""

from __future__ import annotations

import datetime

from inherence_policy_server.rules import Call, Category, InMemoryLedger, RulesConfig, evaluate
from inherence_policy_server.rules._analysis import MAX_ENDPOINTS, MAX_SHELL_CHARS, MAX_SHELL_TEXTS
from inherence_policy_server.rules._text import _STRING_COST, MAX_SCANNED_CHARS, MAX_TOTAL_CHARS, MAX_VALUES

NOW = datetime.datetime(2025, 6, 2, 12, 0, tzinfo=datetime.timezone.utc)
BEYOND = "arguments.beyond_limits"


def _clauses(category: Category, arguments: dict[str, object]) -> tuple[str, ...]:
    return evaluate(Call("tool", category, arguments), RulesConfig(), InMemoryLedger(), NOW).failed_clauses


def _words(length: int) -> str:
    return ("lorem ipsum " * (length // 12 + 1))[:length]


def test_prose_up_to_the_total_is_read_and_past_it_denied() -> None:
    assert BEYOND not in _clauses(Category.FILE_WRITE, {"content": _words(MAX_TOTAL_CHARS)})
    assert _clauses(Category.FILE_WRITE, {"content": _words(MAX_TOTAL_CHARS + 1)}) == (BEYOND,)


def test_text_outside_prose_fields_has_its_own_budget() -> None:
    # The key `x` and the string each count their length and `_STRING_COST`.
    fits = MAX_SCANNED_CHARS - (1 + _STRING_COST) - _STRING_COST
    assert BEYOND not in _clauses(Category.READ_ONLY, {"x": _words(fits)})
    assert _clauses(Category.READ_ONLY, {"x": _words(fits + 1)}) == (BEYOND,)


def test_values_are_counted_before_a_long_list_is_walked() -> None:
    fits = MAX_VALUES - 2  # the arguments and the list count too
    assert BEYOND not in _clauses(Category.READ_ONLY, {"n": list(range(fits))})
    assert _clauses(Category.READ_ONLY, {"n": list(range(fits + 1))}) == (BEYOND,)


def _shell(length: int) -> str:
    tail = "; rm -rf /"
    return ("echo hi; " * (length // 9 + 1))[: length - len(tail)] + tail


def test_shell_up_to_the_limit_is_parsed_and_past_it_denied() -> None:
    parsed = _clauses(Category.SHELL_EXEC, {"command": _shell(MAX_SHELL_CHARS)})
    assert BEYOND not in parsed
    assert any(clause.startswith("mass_destruction.") for clause in parsed)
    assert _clauses(Category.SHELL_EXEC, {"command": _shell(MAX_SHELL_CHARS + 1)})[0] == BEYOND


_STAGE = """
echo "== {name} =="
cd "packages/{name}"
if [ ! -d .venv ]; then python3 -m venv .venv; fi
. .venv/bin/activate && pip install --quiet -e ".[test]"
python -m pytest -q -x tests/ | tee "../../reports/{name}.txt"
ruff check . --output-format=github || status=$?
for file in $(git ls-files '*.toml'); do grep -q version "$file" || echo "no version in $file"; done
cat > build/info.json <<EOF
{{"package": "{name}", "commit": "$(git rev-parse --short HEAD)"}}
EOF
find . -name '*.pyc' -delete
rm -rf build/dist && mkdir -p build/dist && python -m build --wheel --outdir build/dist
kubectl -n ci logs job/{name}-smoke --tail=50 || true
cd ../..
"""


def _realistic_script(stages: int) -> str:
    return "#!/usr/bin/env bash\nset -euo pipefail\n" + "".join(
        _STAGE.format(name=f"pkg{index}") for index in range(stages)
    )


def test_a_script_of_a_few_kib_is_read_whole() -> None:
    script = _realistic_script(9)
    assert 4 * 1024 < len(script) < MAX_SHELL_CHARS
    assert _clauses(Category.SHELL_EXEC, {"command": script}) == ()
    hidden = script + "cd ~ && git clean -fdx\n"
    assert _clauses(Category.SHELL_EXEC, {"command": hidden}) == ("mass_destruction.git_clean",)


def test_command_lines_past_the_count_are_denied() -> None:
    steps = [{"command": "ls"} for _ in range(MAX_SHELL_TEXTS - 1)]
    parsed = _clauses(Category.SHELL_EXEC, {"steps": [*steps, {"command": "rm -rf /"}]})
    assert BEYOND not in parsed
    assert any(clause.startswith("mass_destruction.") for clause in parsed)
    assert _clauses(Category.SHELL_EXEC, {"steps": [*steps, {"command": "ls"}, {"command": "ls"}]})[0] == BEYOND


def test_urls_past_the_count_are_denied() -> None:
    urls = [f"https://h{index}.example.com/" for index in range(MAX_ENDPOINTS - 1)]
    parsed = _clauses(Category.NETWORK_FETCH, {"urls": [*urls, "http://169.254.169.254/latest/meta-data/"]})
    assert BEYOND not in parsed
    assert any(clause.startswith("lateral_pivot.") for clause in parsed)
    assert _clauses(Category.NETWORK_FETCH, {"urls": [*urls, "https://a.example.com/", "https://b.example.com/"]}) == (
        BEYOND,
    )


def test_editing_tools_may_carry_large_files_and_replacements() -> None:
    big = _words(MAX_SCANNED_CHARS + MAX_SCANNED_CHARS // 2)  # past the non-prose budget, two within the total
    assert _clauses(Category.FILE_WRITE, {"path": "src/app.py", "file_text": big}) == ()
    edits = {"path": "src/app.py", "old_string": big, "new_string": big}
    assert _clauses(Category.FILE_WRITE, edits) == ()
    assert _clauses(Category.FILE_WRITE, {"path": "a.md", "edits": [{"oldText": big, "newText": big}]}) == ()
