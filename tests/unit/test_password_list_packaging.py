"""The common-password list is part of the wheel, so an installed tasks-api checks passwords."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import zipfile
from pathlib import Path

from service.domains.users import passwords
from tests.support.server import PROJECT_ROOT

LIST_IN_WHEEL = "service/domains/users/common-passwords.txt.gz"


def test_the_wheel_carries_the_common_password_list_and_its_licence(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    assert uv, "uv builds the wheel (as the image does)"
    subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(tmp_path), "--quiet"],
        cwd=PROJECT_ROOT,
        check=True,
        timeout=180,
    )
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        shipped = gzip.decompress(archive.read(LIST_IN_WHEEL)).decode().splitlines()

    assert "service/domains/users/common-passwords.LICENSE" in names
    assert {line.strip() for line in shipped if line.strip()} == passwords.common_passwords()
