"""The built distributions carry the rule packs: the wheel (built from the sdist) and the sdist."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import tarfile
import zipfile

import pytest

from inherence_policy_server.rules._packs import PACK_NAMES

PACKAGE = pathlib.Path(__file__).parent.parent


@pytest.mark.skipif(shutil.which("uv") is None, reason="building the distributions needs uv")
def test_the_wheel_and_the_sdist_contain_the_rule_packs(tmp_path: pathlib.Path) -> None:
    uv = shutil.which("uv")
    assert uv is not None
    # Without --wheel, uv builds the sdist and then the wheel from it, as an installer from the sdist would.
    subprocess.run(
        [uv, "build", "--no-sources", "--out-dir", str(tmp_path), str(PACKAGE)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    [wheel] = tmp_path.glob("*.whl")
    [sdist] = tmp_path.glob("*.tar.gz")
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for name in PACK_NAMES:
        assert f"inherence_policy_server/rules/packs/{name}.toml" in in_wheel
        assert f"src/inherence_policy_server/rules/packs/{name}.toml" in in_sdist
