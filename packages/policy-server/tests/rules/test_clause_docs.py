"""CLAUSES.md lists exactly the clauses the rules can raise, each with its default mode."""

from __future__ import annotations

import pathlib
import re

from inherence_policy_server.rules._modes import CLAUSE_DEFAULTS

DOC = pathlib.Path(__file__).resolve().parents[2] / "CLAUSES.md"
ROW = re.compile(r"^\| `(?P<clause>[a-z_]+\.[a-z_]+)` \| (?P<mode>[a-z]+) \| (?P<stops>.+) \|$")


def test_the_published_clause_list_matches_the_code() -> None:
    documented = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        row = ROW.match(line)
        if row is not None:
            assert row["clause"] not in documented, f"{row['clause']} is listed twice"
            assert row["stops"].strip(), f"{row['clause']} says nothing of what it stops"
            documented[row["clause"]] = row["mode"]
    in_code = {
        f"{rule}.{clause}": mode.value for rule, clauses in CLAUSE_DEFAULTS.items() for clause, mode in clauses.items()
    }
    assert documented == in_code
