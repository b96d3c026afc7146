"""The developer guide's emulator example runs as written and prints what its comments say.

tests/test_docs.py runs every example of the guide too, but only checks that it exits cleanly; this
checks that each ``print(...)  # value`` line prints that value.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "developer.md"
SECTION = "## Emulated devices in Python"


def _example() -> str:
    text = GUIDE.read_text(encoding="utf-8")
    assert SECTION in text, f"docs/developer.md lost its {SECTION!r} section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the section has no python code block"
    return match.group(1)


def test_the_guide_example_runs_and_prints_what_it_promises() -> None:
    code = _example()
    promised = re.findall(r"^print\(.*\)\s*#\s*(\S+)\s*$", code, re.MULTILINE)
    assert promised, "the example should show what it prints"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(GUIDE), "exec"), {"__name__": "guide_example"})  # noqa: S102 - our guide
    assert out.getvalue().split() == promised
