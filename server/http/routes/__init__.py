"""The API's endpoints, one module per subject, each an ``APIRouter`` whose docstring lists its routes.

================  ==========================================================================
module            endpoints
================  ==========================================================================
:mod:`.meta`      health, no-op, problem codes; a test server's reset
:mod:`.login`     the login (password, challenge, answer) and the session
:mod:`.phone`     the IB Key app's activation, push requests and signed decisions
:mod:`.support`   users, identity, passcodes, devices, audit log, outbox (support token)
:mod:`.money`     step-up challenges, withdrawals and their limits, deposits
:mod:`.account`   email, bank instructions, Secure Login System settings
:mod:`.sharing`   another username's device
:mod:`.devices`   the logged-in user's devices: online card, DSC+, activation, PIN change
:mod:`.ib_key`    IB Key instant activation, migration, recovery, PIN change
================  ==========================================================================

:data:`ROUTERS` is the order the app includes them in, which is the order of the paths in the
OpenAPI document.
"""

from __future__ import annotations

from fastapi import APIRouter

from tokensim.server.http.routes import account, devices, ib_key, login, meta, money, phone, sharing, support

__all__ = [
    "ROUTERS",
    "account",
    "devices",
    "ib_key",
    "login",
    "meta",
    "money",
    "phone",
    "sharing",
    "support",
]

#: Every router of the API, in the order :func:`tokensim.server.http.app.create_app` includes them.
ROUTERS: tuple[APIRouter, ...] = (
    meta.router,
    login.router,
    phone.router,
    support.router,
    money.router,
    account.router,
    sharing.router,
    devices.router,
    ib_key.router,
)
