"""Record every compat case against a running Better Auth and write anchor_golden.json.

Usage: python tests/compat/record_anchor.py http://127.0.0.1:3100 [--out PATH] [--only PREFIX]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compat.cases import CASES
from compat.harness import GOLDEN_PATH, run_case


def record(base_url: str, only: str | None) -> dict[str, Any]:
    golden: dict[str, Any] = {}
    for case in CASES:
        if only and not case.name.startswith(only):
            continue
        # Record every header; comparisons choose what to ignore.
        golden[case.name] = run_case(base_url, case, ignore_headers=())
    return golden


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("base_url")
    parser.add_argument("--out", type=Path, default=GOLDEN_PATH)
    parser.add_argument("--only", help="record only cases whose name starts with this")
    args = parser.parse_args()
    golden = record(args.base_url, args.only)
    text = json.dumps(golden, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    args.out.write_text(text, encoding="utf-8")
    print(f"recorded {len(golden)} cases into {args.out}")


if __name__ == "__main__":
    main()
