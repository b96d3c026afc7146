"""``tokensim keypad --help``, run as a user runs it: every option is described with its default."""

from __future__ import annotations

import re
import subprocess
import sys


def test_every_option_of_keypad_help_names_its_default() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tokensim.server.cli", "keypad", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={"COLUMNS": "200", "PATH": ""},
    )
    # Each option's block runs from its line ("  --name ...") to the next option's.
    blocks = re.split(r"\n(?=  -)", done.stdout.split("options:", 1)[1])
    described = {block.split()[0].rstrip(","): " ".join(block.split()) for block in blocks if block.strip()}
    for expected in ("--state", "--server", "--support-token-file", "--add", "--phone", "--poll", "--serve"):
        assert expected in described, done.stdout
    for name, text in described.items():
        if name != "-h":
            assert "(default: " in text or "; default: " in text, f"{name}: {text}"
