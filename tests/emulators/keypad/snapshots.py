"""SVG snapshots of the keypad, compared as text with the files under ``snapshots/``.

pytest-textual-snapshot pins a syrupy that does not run on pytest 9, so this is our own small helper
around :meth:`textual.app.App.export_screenshot`. Every snapshot test pins what makes the SVG change:
the terminal size (:data:`~.conftest.SIZE`), the devices' clock, their random seeds and the title.

To create or accept snapshots, run the tests with ``TOKENSIM_UPDATE_SNAPSHOTS=1``; the files are
rewritten and the tests pass. Without it, a missing file or any difference fails the test with the
first differing line, and the new SVG is written beside the old one as ``<name>.actual.svg`` (ignored
by git) so the two can be opened in a browser side by side.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
UPDATE_ENV = "TOKENSIM_UPDATE_SNAPSHOTS"
#: The README's screenshot of the app: a copy of one snapshot, kept equal by a test.
README_SCREENSHOT = Path(__file__).resolve().parents[3] / "docs" / "keypad.svg"
TITLE = "tokensim keypad"


def updating() -> bool:
    """Whether this run rewrites the snapshots."""
    return os.environ.get(UPDATE_ENV) == "1"


async def take(pilot: Pilot[None]) -> str:
    """The screen as SVG, once every animation and message has settled and no cursor blinks.

    A clicked button shows its pressed look for a fifth of a second; the picture is taken as it is
    afterwards, so a slow machine and a fast one take the same picture.
    """
    for box in pilot.app.query(Input):
        box.cursor_blink = False
    for button in pilot.app.query(Button):
        button.remove_class("-active")
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()
    return pilot.app.export_screenshot(title=TITLE)


def compare(svg: str, name: str) -> None:
    """Fail unless ``svg`` equals ``snapshots/<name>.svg``; in update mode, write it instead."""
    path = SNAPSHOTS / f"{name}.svg"
    actual = path.with_suffix(".actual.svg")
    if updating():
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(svg, encoding="utf-8")
        actual.unlink(missing_ok=True)
        return
    if not path.exists():
        pytest.fail(f"no snapshot {path}; run the tests with {UPDATE_ENV}=1 to create it")
    expected = path.read_text(encoding="utf-8")
    if svg == expected:
        actual.unlink(missing_ok=True)
        return
    actual.write_text(svg, encoding="utf-8")
    old, new = expected.splitlines(), svg.splitlines()
    line = next(
        (i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), min(len(old), len(new))
    )
    shown_old = old[line][:200] if line < len(old) else "<end of file>"
    shown_new = new[line][:200] if line < len(new) else "<end of file>"
    pytest.fail(
        f"the screen differs from {path.name} at line {line + 1}:\n"
        f"  expected: {shown_old}\n  actual:   {shown_new}\n"
        f"the new screen is in {actual}; if the change is intended, rerun with {UPDATE_ENV}=1"
    )
