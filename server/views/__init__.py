"""What the server's operations return, as frozen dataclasses with an explicit JSON mapping.

The HTTP API writes these with ``to_json`` and :mod:`tokensim.server.client` reads them back with
``from_json``, so a caller gets the same typed values in-process and over the network.

Every view is importable from here; the submodules group them by subject:

- :mod:`~tokensim.server.views.accounts`: users, devices, code cards, enrollments;
- :mod:`~tokensim.server.views.login`: a login's steps, challenges, sessions;
- :mod:`~tokensim.server.views.sls`: withdrawal limits, receipts, security settings;
- :mod:`~tokensim.server.views.phone`: IB Key migrations, the outbox's texts and calls;
- :mod:`~tokensim.server.views.support`: the audit log, identity verifications.
"""

from __future__ import annotations

from tokensim.server.views.accounts import Card, DeviceView, Enrollment, UserView
from tokensim.server.views.login import ChallengeView, LoginStarted, SessionGrant, SessionInfo, TemporaryStage
from tokensim.server.views.phone import MigrationStarted, OutboxEntry
from tokensim.server.views.sls import DepositReceipt, Remaining, SecuritySettings, WithdrawalReceipt
from tokensim.server.views.support import AuditRecord, IdentityCheckView

__all__ = [
    "AuditRecord",
    "Card",
    "ChallengeView",
    "DepositReceipt",
    "DeviceView",
    "Enrollment",
    "IdentityCheckView",
    "LoginStarted",
    "MigrationStarted",
    "OutboxEntry",
    "Remaining",
    "SecuritySettings",
    "SessionGrant",
    "SessionInfo",
    "TemporaryStage",
    "UserView",
    "WithdrawalReceipt",
]
