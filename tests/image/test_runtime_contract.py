"""Run the service the way the image runs it, since no image can be built here.

The final stage of the Dockerfile is read for its ENV, USER, WORKDIR, ENTRYPOINT
and CMD; the service is started with exactly that environment and command, as
uid/gid 65532 when the tests run as root, in a working directory it cannot
write, with /tmp (and the metrics directory under it) as the only writable place.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import URL

from tests.image.dockerfile import instructions
from tests.support.databases import url_string
from tests.support.server import PROJECT_ROOT, ServiceProcess, free_port

DOCKERFILE = PROJECT_ROOT / "Dockerfile"
NONROOT = 65532
SYSTEM_PYTHON = Path("/usr/bin/python3.11")


@dataclass
class FinalStage:
    """What the runtime stage of the Dockerfile declares."""

    env: dict[str, str] = field(default_factory=dict)
    user: str = ""
    workdir: str = "/"
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)


def parse_final_stage(text: str) -> FinalStage:
    """The runtime stage: everything after the last FROM."""
    stage = FinalStage()
    for keyword, rest in instructions(text):
        if keyword == "FROM":
            stage = FinalStage()
        elif keyword == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                stage.env[key] = value
        elif keyword == "USER":
            stage.user = rest
        elif keyword == "WORKDIR":
            stage.workdir = rest
        elif keyword in ("ENTRYPOINT", "CMD"):
            value = json.loads(rest)
            assert isinstance(value, list), f"{keyword} must use the exec form"
            setattr(stage, keyword.lower(), value)
    return stage


def test_parser_reads_the_final_stage_only() -> None:
    stage = parse_final_stage(
        'FROM a AS b\nENV X=1\nUSER root\nFROM c\nENV Y="two words" \\\n  Z=3\n'
        'USER 65532:65532\nENTRYPOINT ["python", "-m", "service"]\nCMD ["serve"]\n'
    )
    assert stage.env == {"Y": "two words", "Z": "3"}
    assert stage.user == "65532:65532"
    assert stage.entrypoint + stage.cmd == ["python", "-m", "service", "serve"]


def test_parser_rejects_shell_form_entrypoint() -> None:
    with pytest.raises(json.JSONDecodeError):
        parse_final_stage("FROM c\nENTRYPOINT python -m service\n")


def test_parser_ignores_comments_and_blank_lines() -> None:
    stage = parse_final_stage("FROM c\n# USER root\n\nWORKDIR /srv\n")
    assert (stage.user, stage.workdir) == ("", "/srv")


@pytest.fixture(scope="module")
def stage() -> FinalStage:
    return parse_final_stage(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def image_python() -> Iterator[Path]:
    """A venv built as the image's builder does: locked, no dev deps, not editable.

    Its interpreter is Debian's /usr/bin/python3.11, the path distroless provides.
    """
    uv = os.environ.get("UV") or shutil.which("uv")
    if not SYSTEM_PYTHON.exists() or uv is None:
        if os.environ.get("REQUIRE_TOOLS") == "1":
            pytest.fail(f"REQUIRE_TOOLS=1 but {SYSTEM_PYTHON} or uv is missing")
        pytest.skip(f"needs {SYSTEM_PYTHON} and uv to build the image's environment")
    # Not under pytest's private temp dir: the non-root user must reach the interpreter.
    home = Path(tempfile.mkdtemp(prefix="tasks-api-image-venv-"))
    home.chmod(0o755)
    venv = home / "venv"
    env = {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_PYTHON": str(SYSTEM_PYTHON),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_COMPILE_BYTECODE": "1",
        "SETUPTOOLS_SCM_PRETEND_VERSION": "1.2.3",
    }
    env.pop("VIRTUAL_ENV", None)
    subprocess.run(
        [
            uv,
            "sync",
            "--frozen",
            "--no-dev",
            "--no-editable",
            "--quiet",
            "--reinstall-package",
            "tasks-api",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        timeout=300,
    )
    yield venv / "bin" / "python"
    shutil.rmtree(home, ignore_errors=True)


def test_image_declares_the_contract(stage: FinalStage) -> None:
    assert stage.user == f"{NONROOT}:{NONROOT}"
    assert stage.entrypoint == ["python", "-m", "service"]
    assert stage.cmd == ["serve"]
    assert stage.env["HOST"] == "0.0.0.0"  # noqa: S104 - the container's own address
    assert stage.env["PROMETHEUS_MULTIPROC_DIR"].startswith("/run/")
    assert stage.env["ENVIRONMENT"] == "production"


@pytest.mark.parametrize("secret", [None, "", "short"])
def test_the_image_environment_refuses_to_serve_without_a_jwt_secret(
    stage: FinalStage, tmp_path: Path, secret: str | None
) -> None:
    # `docker run -e DATABASE_URL=...` and nothing else: no development signing key.
    env = {**stage.env, "PATH": os.environ["PATH"], "TMPDIR": str(tmp_path)}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/tasks.db"
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")
    if secret is not None:
        env["JWT_SECRET"] = secret
    result = subprocess.run(
        [sys.executable, *stage.entrypoint[1:], *stage.cmd],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "JWT_SECRET" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.postgres
def test_service_runs_as_the_image_runs_it(
    stage: FinalStage, image_python: Path, database_url: URL
) -> None:
    as_root = os.geteuid() == 0
    scratch = Path(tempfile.mkdtemp(prefix="tasks-api-image-"))
    metrics_dir = scratch / "metrics"
    metrics_dir.mkdir()
    if as_root:
        os.chown(scratch, NONROOT, NONROOT)
        os.chown(metrics_dir, NONROOT, NONROOT)
    port, metrics_port = free_port(), free_port()
    env = dict(stage.env)
    env.update(
        {
            # The image's venv is /opt/venv; here it is the same kind of venv elsewhere.
            "PATH": f"{image_python.parent}:/usr/bin:/bin",
            "HOME": "/nonexistent",
            "TMPDIR": str(scratch),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "DATABASE_URL": url_string(database_url),
            "ENVIRONMENT": "production",
            "JWT_SECRET": "image-contract-secret-0123456789abcdef",
            "PORT": str(port),
            "METRICS_PORT": str(metrics_port),
            "DRAIN_DELAY_SECONDS": "0",
        }
    )
    assert stage.entrypoint[0] == "python"
    command = [str(image_python), *stage.entrypoint[1:], *stage.cmd]
    log_path = scratch / "service.log"
    # The image's WORKDIR is "/", which the non-root user cannot write to.
    workdir = stage.workdir if as_root else str(scratch)
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            user=NONROOT if as_root else None,
            group=NONROOT if as_root else None,
            extra_groups=[] if as_root else None,
            start_new_session=True,
        )
    service = ServiceProcess(process, port, metrics_port, log_path, env)
    try:
        service.wait_ready(timeout=30)
        assert httpx.get(f"{service.base_url}/healthz").status_code == 200
        assert httpx.get(f"{service.base_url}/docs").status_code == 404, "docs off in production"
        version = httpx.get(f"{service.base_url}/healthz").json()["version"]
        assert version == "1.2.3", "the version baked in at build time is reported"
    finally:
        code = service.stop()
    assert code == 0, service.logs()
    logs = service.logs()
    assert "Traceback" not in logs
    assert "PermissionError" not in logs
    assert "Read-only file system" not in logs
