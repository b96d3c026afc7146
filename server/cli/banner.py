"""What ``tokensim serve`` prints when it starts: where the server listens and keeps its data.

The banner names the URL, the database and where the master key and the support token come from;
after ``--demo`` it lists the demo accounts with, for each, the command that answers its device's
challenge, spelled as ``tokensim`` is typed in this shell (:func:`command_name`) so it runs as printed.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from tokensim.server.cli.demo_accounts import DEMO_PASSWORD, DEMO_PIN, DemoAccount
from tokensim.server.config import MASTER_KEY_ENV, SUPPORT_TOKEN_ENV, ServerConfig

__all__ = ["command_name", "print_banner"]

#: How the banner names each device kind.
_KIND_NAMES = {
    "scc": "Security Code Card",
    "online-scc": "Online Security Code Card",
    "dsc": "Digital Security Card",
    "dsc-plus": "DSC+",
    "gold": "Gold",
    "platinum": "Platinum",
    "ib-key": "IB Key",
    "phone": "SMS / voice",
}


def command_name() -> str:
    """How to type ``tokensim`` in this shell, from the program that is running now.

    ``tokensim`` when the command on the PATH is this one (an activated venv, pipx); else the path
    of the venv's script, relative when it lies under the current folder (``.venv/bin/tokensim``
    after ``make run``), so what the banner prints runs as typed.
    """
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is None or script.name not in ("tokensim", "tokensim.exe"):
        script = Path(sys.executable).parent / "tokensim"
    if not script.exists():
        return f"{sys.executable} -m tokensim.server.cli"
    found = shutil.which("tokensim")
    if found is not None and os.path.samefile(found, script):
        return "tokensim"
    absolute = script.resolve() if not script.is_absolute() else script
    try:
        relative = absolute.relative_to(Path.cwd().resolve())
    except ValueError:
        return shlex.quote(str(absolute))
    return shlex.quote(str(relative) if relative.parent != Path() else f"./{relative}")


_COUNTER = re.compile(r"--counter N( \(0, then \+1 each time\))?")


def _banner_how(account: DemoAccount, tokensim: str, counters: Mapping[str, int]) -> str:
    how = account.how.replace("tokensim code ", f"{tokensim} code ")
    # Notes follow a command as shell comments, so the whole line runs as printed.
    if account.username in counters:
        how = _COUNTER.sub(f"--counter {counters[account.username]}", how) + "  # then +1 at each login"
    if account.kind == "dsc":
        # The activation answered with the code of the step it ran in: that code is used up.
        how += "  # each code works once; just after the first start, wait for the next 30 s step"
    return how


def print_banner(
    config: ServerConfig,
    host: str,
    port: int,
    accounts: list[DemoAccount],
    counters: Mapping[str, int] | None = None,
) -> None:
    """Print the banner for a server at ``host``:``port``, then the demo ``accounts`` if any.

    ``counters`` holds the counter each demo Gold device's next answer uses, printed in its command.
    """
    url = f"http://{host}:{port}"
    tokensim = command_name()
    print(f"tokensim server: {url}  (API docs: {url}/docs)")
    print(f"  database:      {config.database}")
    key_source = f"${MASTER_KEY_ENV}" if os.environ.get(MASTER_KEY_ENV) else str(config.key_path)
    print(f"  master key:    {key_source}")
    token_source = f"${SUPPORT_TOKEN_ENV}" if os.environ.get(SUPPORT_TOKEN_ENV) else str(config.token_path)
    print(f"  support token: {token_source}  (Authorization: Bearer ... on /v1/support and /v1/outbox)")
    if not accounts:
        sys.stdout.flush()
        return
    print()
    print(f"Demo accounts, password {DEMO_PASSWORD!r}, device PINs {DEMO_PIN}:")
    width = max(len(a.username) for a in accounts)
    for account in accounts:
        kind = _KIND_NAMES.get(account.kind, account.kind)
        print(f"  {account.username:<{width}}  {kind:<26} {_banner_how(account, tokensim, counters or {})}")
    print()
    print("Log in with any of them, by hand or from code:")
    print(f"  {tokensim} login {accounts[0].username} --server {url}")
    print(
        f"  curl -s {url}/v1/login -H 'content-type: application/json' "
        f'-d \'{{"username": "{accounts[0].username}", "password": "{DEMO_PASSWORD}"}}\''
    )
    print("  then POST /v1/login/{login_id}/challenge {device_id} and POST /v1/login/{login_id}/answer")
    print("  {challenge_id, answer}; the session's scope says what it may do.")
    sys.stdout.flush()
