"""The package works installed (not only from the checkout), and the Dockerfile lints clean."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from tests.servers import serving

ROOT = Path(__file__).parent.parent


def test_installed_package_serves_from_an_empty_directory(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    source = tmp_path / "source"  # a copy, so the build cannot see the checkout's own files
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv", ".git", "*.db", "__pycache__", ".*cache*"))
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(source)], check=True, capture_output=True, timeout=600
    )
    shutil.rmtree(source)
    workdir = tmp_path / "empty"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "STEPWISE_"))}
    with serving([str(venv / "bin" / "stepwise")], env=env, cwd=workdir) as (base, key):
        ladder = httpx.get(f"{base}/v1/progressions/lunge-ladder", headers={"Authorization": f"Bearer {key}"})
        assert ladder.status_code == 200 and len(ladder.json()["steps"]) == 6
        assert (workdir / "stepwise.db").exists()


def test_dockerfile_lints_without_warnings():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run(
        [hadolint, "--failure-threshold", "style", str(ROOT / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr
