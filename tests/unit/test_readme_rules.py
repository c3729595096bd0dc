"""The README's rule table is the output of ``mlvet rules --format markdown``: the docs match the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_rule_table_matches_mlvet_rules() -> None:
    done = subprocess.run([sys.executable, "-m", "mlvet", "rules", "--format", "markdown"],
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    text = README.read_text(encoding="utf-8")
    start = text.index("Generated with `mlvet rules --format markdown`")
    table = text[text.index("| id |", start):text.index("\n## ", start)].strip()
    assert table == done.stdout.strip()
