"""The Node side of the interop tests: tests/interop's npm packages and its scripts."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

INTEROP_DIR = Path(__file__).resolve().parents[1] / "interop"
# Outside the repo, so it is never committed; serialises `npm ci` across test processes.
INSTALL_LOCK = Path(tempfile.gettempdir()) / "auth-service-interop-npm.lock"


def _installed_matches_lock() -> bool:
    """Every package of package-lock.json is in node_modules at the locked version."""
    lock = json.loads((INTEROP_DIR / "package-lock.json").read_text())
    for path, entry in lock.get("packages", {}).items():
        if not path:  # the project itself
            continue
        manifest = INTEROP_DIR / path / "package.json"
        if not manifest.is_file():
            if entry.get("optional"):
                continue  # npm leaves out optional packages that do not fit the platform
            return False
        if json.loads(manifest.read_text()).get("version") != entry.get("version"):
            return False
    return True


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise RuntimeError(
            f"`{tool}` is not on PATH: the interop tests need Node.js 20.19+ with npm."
        )
    return path


def ensure_interop_node_modules() -> None:
    """Install tests/interop's locked packages with `npm ci` unless they are already there."""
    _require("node")
    npm = _require("npm")
    with INSTALL_LOCK.open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)  # concurrent test processes install once
        if _installed_matches_lock():
            return
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=INTEROP_DIR,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0 or not _installed_matches_lock():
            raise RuntimeError(
                f"`npm ci` in {INTEROP_DIR} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )


def run_node(
    script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a script of tests/interop with node (installing its packages first if needed)."""
    ensure_interop_node_modules()
    return subprocess.run(
        [_require("node"), script, *args],
        cwd=INTEROP_DIR,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_node_json(
    script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> Any:
    """Run a script that prints one JSON document; parse it, or fail with the script's output."""
    result = run_node(script, *args, env=env, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(
            f"node {script} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return json.loads(result.stdout)
