import importlib.metadata
import pathlib

import inherence_client_adapters

CHANGELOG = pathlib.Path(__file__).parent.parent / "CHANGELOG.md"


def test_version_matches_installed_metadata_and_changelog() -> None:
    assert inherence_client_adapters.__version__ == importlib.metadata.version("inherence-client-adapters")
    headings = [line for line in CHANGELOG.read_text(encoding="utf-8").splitlines() if line.startswith("## ")]
    assert headings[0].startswith(f"## {inherence_client_adapters.__version__} ")
