#!/usr/bin/env python3
"""Validates delivered notices against the canonical schema, schemas/notice.v1.schema.json.

Usage: validate_notices.py NOTICE.json... Exits non-zero and lists every violation.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    schema = json.loads((ROOT / "schemas" / "notice.v1.schema.json").read_text())
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    problems = []
    for name in sys.argv[1:]:
        notice = json.loads(Path(name).read_text())
        for error in validator.iter_errors(notice):
            problems.append(f"{name}: /{'/'.join(map(str, error.path))}: {error.message}")
    print("\n".join(problems) or f"ok: {len(sys.argv) - 1} notice(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
