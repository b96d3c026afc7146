"""A typed Python client for the whole API, over the network or in-process.

Over the network::

    with TokensimClient("http://127.0.0.1:8000", support_token=token) as client:
        started = client.login("alice", "correct horse battery")

In-process, against an app built by :func:`tokensim.server.http.app.create_app`, with no socket at all
(the requests go straight into the ASGI app)::

    client = TokensimClient.in_process(app, support_token=token)

Every method returns the same typed values the server builds (:mod:`tokensim.server.views`,
:class:`~tokensim.protocol.provisioning.Provisioning`, ...). An error response raises
:class:`ProblemError` with the problem's stable ``code``, ``status`` and ``retry_after``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from types import TracebackType
from typing import Any

import anyio.from_thread
import httpx

from tokensim.protocol.errors import TokensimError
from tokensim.protocol.messages import PushDecision, PushRequest
from tokensim.protocol.phone_auth import DECISIONS_PATH, RequestAuth, requests_path
from tokensim.protocol.provisioning import IbKeyActivation, Provisioning
from tokensim.server.views import (
    AuditRecord,
    ChallengeView,
    DepositReceipt,
    DeviceView,
    Enrollment,
    IdentityCheckView,
    LoginStarted,
    MigrationStarted,
    OutboxEntry,
    Remaining,
    SecuritySettings,
    SessionGrant,
    SessionInfo,
    UserView,
    WithdrawalReceipt,
)

__all__ = ["InProcessTransport", "ProblemError", "TokensimClient"]


class ProblemError(TokensimError):
    """The server answered with a problem detail.

    Attributes:
        status: the HTTP status.
        code: the stable problem code (``wrong-answer``, ``device-locked``, ...).
        detail: what happened.
        retry_after: seconds to wait, when the problem says.
        body: the whole problem object.
    """

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        self.status = status
        self.code = str(body.get("code", "unknown"))
        self.detail = str(body.get("detail", ""))
        retry = body.get("retry_after")
        self.retry_after = None if retry is None else float(retry)
        self.body = dict(body)
        super().__init__(f"{status} {self.code}: {self.detail}")


class InProcessTransport(httpx.BaseTransport):
    """An httpx transport that calls an ASGI app in this process, from synchronous code.

    The app runs on an event loop in a helper thread (an anyio blocking portal); each request is
    handed to it and the whole response read back. App exceptions become 500 problem responses as
    they would over a socket.

    Args:
        app: the ASGI application.
        client: the (host, port) the app sees as the caller.
    """

    def __init__(self, app: Any, *, client: tuple[str, int] = ("127.0.0.1", 50000)) -> None:
        self._asgi = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=client)
        self._stack = contextlib.ExitStack()
        self._portal = self._stack.enter_context(anyio.from_thread.start_blocking_portal())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request through the app and return its complete response."""
        request.read()

        async def call() -> httpx.Response:
            response = await self._asgi.handle_async_request(request)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return self._portal.call(call)

    def close(self) -> None:
        """Stop the helper thread's event loop."""
        self._stack.close()


class TokensimClient:
    """The API as Python methods.

    Args:
        base_url: where the server listens, e.g. ``http://127.0.0.1:8000``.
        support_token: the support API's bearer token, for the support methods and the outbox.
        timeout: seconds per request.
        transport: an httpx transport (tests pass :class:`InProcessTransport`).
    """

    def __init__(
        self,
        base_url: str,
        *,
        support_token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=timeout, transport=transport)
        self._support = support_token

    @classmethod
    def in_process(cls, app: Any, *, support_token: str | None = None) -> TokensimClient:
        """A client that calls ``app`` directly, with no socket."""
        return cls("http://tokensim.local", support_token=support_token, transport=InProcessTransport(app))

    def close(self) -> None:
        """Close the connections (and an in-process transport's event loop)."""
        self._http.close()

    def __enter__(self) -> TokensimClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        token: str | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send a raw request and return the raw response, errors included (no exception)."""
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        query = None if params is None else {k: v for k, v in params.items() if v is not None}
        if content is not None:
            return self._http.request(method, path, content=content, params=query, headers=sent)
        return self._http.request(method, path, json=json, params=query, headers=sent)

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        token: str | None = None,
        auth: RequestAuth | None = None,
    ) -> Any:
        headers = None if auth is None else {"Authorization": auth.header()}
        response = self.request(method, path, json=json, params=params, token=token, headers=headers)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"code": "unknown", "detail": response.text[:200]}
            raise ProblemError(response.status_code, body if isinstance(body, Mapping) else {})
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def _support_call(self, method: str, path: str, **kwargs: Any) -> Any:
        if self._support is None:
            raise TokensimError("this client has no support token")
        return self._call(method, path, token=self._support, **kwargs)

    # -- meta ----------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """The server's liveness answer."""
        result: dict[str, Any] = self._call("GET", "/v1/health")
        return result

    # -- support -------------------------------------------------------------------------------

    def create_user(
        self,
        username: str,
        password: str,
        *,
        phones: Sequence[str] = (),
        jurisdiction: str = "US",
        primary_user: bool = True,
        equity: Decimal | int | str = 0,
        entity: str | None = None,
        start_with_sms: bool | None = None,
    ) -> UserView:
        """Create a user with verified phone numbers (and, by the server's default, an SMS device)."""
        body: dict[str, Any] = {
            "username": username,
            "password": password,
            "phones": list(phones),
            "jurisdiction": jurisdiction,
            "primary_user": primary_user,
            "equity": str(equity),
            "entity": entity,
        }
        if start_with_sms is not None:
            body["start_with_sms"] = start_with_sms
        return UserView.from_json(self._support_call("POST", "/v1/support/users", json=body))

    def user(self, username: str) -> UserView:
        """A user with their phones and devices."""
        return UserView.from_json(self._support_call("GET", f"/v1/support/users/{username}"))

    def enroll(
        self,
        username: str,
        kind: str,
        *,
        pin: str | None = None,
        number: str | None = None,
        label: str | None = None,
        firmware: str = "current",
        replaces: str | None = None,
    ) -> Enrollment:
        """Enroll a device (``replaces``: a lost or broken one); returns its provisioning and card, or
        how its activation token went."""
        body: dict[str, Any] = {"kind": kind, "firmware": firmware}
        for key, value in (("pin", pin), ("number", number), ("label", label), ("replaces", replaces)):
            if value is not None:
                body[key] = value
        return Enrollment.from_json(
            self._support_call("POST", f"/v1/support/users/{username}/devices", json=body)
        )

    def issue_temporary_passcode(
        self, username: str, *, verification_id: str, length: int | None = None
    ) -> Enrollment:
        """Issue a temporary passcode after :meth:`verify_identity` (returned once, in ``passcode``)."""
        path = f"/v1/support/users/{username}/temporary-passcode"
        body: dict[str, Any] = {"verification_id": verification_id}
        if length is not None:
            body["length"] = length
        return Enrollment.from_json(self._support_call("POST", path, json=body))

    def record_identity(
        self,
        username: str,
        *,
        date_of_birth: str,
        citizenship: str,
        residence: str,
        id_type: str,
        id_number: str,
    ) -> UserView:
        """Keep a user's identification data (the server keeps an HMAC only)."""
        body = {
            "date_of_birth": date_of_birth,
            "citizenship": citizenship,
            "residence": residence,
            "id_type": id_type,
            "id_number": id_number,
        }
        return UserView.from_json(
            self._support_call("PUT", f"/v1/support/users/{username}/identity", json=body)
        )

    def verify_identity(self, username: str, *, method: str, agent: str) -> IdentityCheckView:
        """Record an identity verification; its ``id`` allows one temporary passcode."""
        path = f"/v1/support/users/{username}/identity-checks"
        return IdentityCheckView.from_json(
            self._support_call("POST", path, json={"method": method, "agent": agent})
        )

    def mark_funded(self, username: str) -> UserView:
        """Record that the account received funds (a new account's online card lasts from now)."""
        return UserView.from_json(self._support_call("POST", f"/v1/support/users/{username}/funded"))

    def close_account(self, username: str) -> UserView:
        """Close an account: statements with the password alone."""
        return UserView.from_json(self._support_call("POST", f"/v1/support/users/{username}/close"))

    def report(self, device_id: str, condition: str) -> DeviceView:
        """Report a device lost, stolen, damaged, not returned, returned, or with a dead battery."""
        path = f"/v1/support/devices/{device_id}/report"
        return DeviceView.from_json(self._support_call("POST", path, json={"condition": condition}))

    def start_activation(self, device_id: str, *, mode: str | None = None) -> ChallengeView:
        """The challenge a pending device answers to become active."""
        body = {} if mode is None else {"mode": mode}
        path = f"/v1/support/devices/{device_id}/activation"
        return ChallengeView.from_json(self._support_call("POST", path, json=body))

    def finish_activation(self, device_id: str, challenge_id: str, answer: str) -> DeviceView:
        """Answer the activation challenge."""
        body = {"challenge_id": challenge_id, "answer": answer}
        path = f"/v1/support/devices/{device_id}/activation/answer"
        return DeviceView.from_json(self._support_call("POST", path, json=body))

    def resend_activation_token(self, device_id: str) -> Enrollment:
        """Text a new IB Key activation token."""
        path = f"/v1/support/devices/{device_id}/activation-token"
        return Enrollment.from_json(self._support_call("POST", path))

    def unlock_device(self, device_id: str) -> DeviceView:
        """Clear a device's lockout."""
        return DeviceView.from_json(self._support_call("POST", f"/v1/support/devices/{device_id}/unlock"))

    def revoke(self, device_id: str) -> DeviceView:
        """Revoke a device for good."""
        return DeviceView.from_json(self._support_call("POST", f"/v1/support/devices/{device_id}/revoke"))

    def unlock_user(self, username: str) -> UserView:
        """Clear an account lock and its password pause."""
        return UserView.from_json(self._support_call("POST", f"/v1/support/users/{username}/unlock"))

    def audit(
        self, *, username: str | None = None, event: str | None = None, after: int = 0, limit: int = 100
    ) -> list[AuditRecord]:
        """Audit events after sequence number ``after``, oldest first."""
        params = {"username": username, "event": event, "after": after, "limit": limit}
        data = self._support_call("GET", "/v1/support/audit", params=params)
        return [AuditRecord.from_json(item) for item in data["events"]]

    def outbox(self, *, to: str | None = None, after: int = 0, limit: int = 100) -> list[OutboxEntry]:
        """Texts and calls the outbox carrier delivered after sequence number ``after``."""
        data = self._support_call("GET", "/v1/outbox", params={"to": to, "after": after, "limit": limit})
        return [OutboxEntry.from_json(item) for item in data["messages"]]

    def reset(self) -> None:
        """Empty an ephemeral test server (``tokensim serve --ephemeral``); others refuse (404)."""
        self._support_call("POST", "/v1/support/reset")

    # -- login ---------------------------------------------------------------------------------

    def login(self, username: str, password: str, *, platform: str = "portal") -> LoginStarted:
        """Check the password; returns the login and the devices to choose from."""
        body = {"username": username, "password": password, "platform": platform}
        return LoginStarted.from_json(self._call("POST", "/v1/login", json=body))

    def challenge(self, login_id: str, device_id: str, *, mode: str | None = None) -> ChallengeView:
        """A challenge for the chosen device."""
        body: dict[str, Any] = {"device_id": device_id}
        if mode is not None:
            body["mode"] = mode
        return ChallengeView.from_json(self._call("POST", f"/v1/login/{login_id}/challenge", json=body))

    def answer(self, login_id: str, challenge_id: str, answer: str | None = None) -> SessionGrant:
        """Answer the challenge (no ``answer`` for push and QR); returns the session."""
        body: dict[str, Any] = {"challenge_id": challenge_id}
        if answer is not None:
            body["answer"] = answer
        return SessionGrant.from_json(self._call("POST", f"/v1/login/{login_id}/answer", json=body))

    def session(self, token: str) -> SessionInfo:
        """What a session token may do."""
        return SessionInfo.from_json(self._call("GET", "/v1/session", token=token))

    def logout(self, token: str, *, everywhere: bool = False) -> None:
        """End a session; with ``everywhere``, every session of its user."""
        self._call("DELETE", "/v1/session", token=token, params={"all": "true"} if everywhere else None)

    # -- IB Key app ----------------------------------------------------------------------------

    def activate_ib_key(self, activation: IbKeyActivation) -> Provisioning:
        """Send an IB Key app's activation; returns the registration's provisioning."""
        return Provisioning.from_json(self._call("POST", "/v1/ib-key/activations", json=activation.to_json()))

    def push_requests(self, registration: str, auth: RequestAuth) -> list[PushRequest]:
        """Push requests waiting for the phone whose registration serial is ``registration``.

        Args:
            registration: the registration id.
            auth: the phone's signature of this request (``IbKeyApp.listing_auth``), used once.
        """
        data = self._call("GET", requests_path(registration), auth=auth)
        return [PushRequest.from_json(item) for item in data["requests"]]

    def decide(self, decision: PushDecision, auth: RequestAuth) -> str:
        """Send a phone's signed decision; returns ``approved`` or ``denied``.

        Args:
            decision: the decision, signed by the registration ``decision.key_id``.
            auth: the phone's signature of this request (``IbKeyApp.decision_auth``), used once.
        """
        data = self._call("POST", DECISIONS_PATH, json=decision.to_json(), auth=auth)
        return str(data["status"])

    # -- Secure Login System rules (session token) ----------------------------------------------

    def step_up(self, token: str, device_id: str, action: str, *, mode: str | None = None) -> ChallengeView:
        """A fresh challenge on a chosen device for ``withdrawal``, ``bank`` or ``email``."""
        body: dict[str, Any] = {"device_id": device_id, "action": action}
        if mode is not None:
            body["mode"] = mode
        return ChallengeView.from_json(self._call("POST", "/v1/step-up", json=body, token=token))

    def withdraw(
        self,
        token: str,
        amount_usd: Decimal | int | str,
        *,
        challenge_id: str | None = None,
        answer: str | None = None,
    ) -> WithdrawalReceipt:
        """Withdraw with the answer to a ``withdrawal`` challenge (none when opted out)."""
        body: dict[str, Any] = {"amount_usd": str(amount_usd)}
        if challenge_id is not None:
            body["challenge_id"] = challenge_id
        if answer is not None:
            body["answer"] = answer
        return WithdrawalReceipt.from_json(self._call("POST", "/v1/withdrawals", json=body, token=token))

    def withdrawal_limits(self, token: str) -> list[Remaining]:
        """What remains of each usable device kind's withdrawal limits."""
        data = self._call("GET", "/v1/withdrawals/limits", token=token)
        return [Remaining.from_json(item) for item in data["limits"]]

    def deposit(self, token: str, amount_usd: Decimal | int | str, method: str) -> DepositReceipt:
        """Record a deposit (``ach``, ``eft``, ``wire``, ``check``)."""
        body = {"amount_usd": str(amount_usd), "method": method}
        return DepositReceipt.from_json(self._call("POST", "/v1/deposits", json=body, token=token))

    def change_email(self, token: str, email: str, challenge_id: str, answer: str | None) -> SecuritySettings:
        """Change the email address with the answer to an ``email`` challenge."""
        body: dict[str, Any] = {"email": email, "challenge_id": challenge_id}
        if answer is not None:
            body["answer"] = answer
        return SecuritySettings.from_json(self._call("PUT", "/v1/account/email", json=body, token=token))

    def change_bank_instructions(
        self, token: str, instructions: str, challenge_id: str, answer: str | None
    ) -> SecuritySettings:
        """Replace the bank instructions with the answer to a ``bank`` challenge."""
        body: dict[str, Any] = {"instructions": instructions, "challenge_id": challenge_id}
        if answer is not None:
            body["answer"] = answer
        data = self._call("PUT", "/v1/account/bank-instructions", json=body, token=token)
        return SecuritySettings.from_json(data)

    def security(self, token: str) -> SecuritySettings:
        """The session user's Secure Login System settings."""
        return SecuritySettings.from_json(self._call("GET", "/v1/account/security", token=token))

    def opt_out(self, token: str) -> SecuritySettings:
        """Opt out of the Secure Login System (trading platforms only; primary user)."""
        return SecuritySettings.from_json(self._call("POST", "/v1/account/sls/opt-out", token=token))

    def opt_in(self, token: str) -> SecuritySettings:
        """Opt back in (primary user)."""
        return SecuritySettings.from_json(self._call("POST", "/v1/account/sls/opt-in", token=token))

    def set_ip_restrictions(self, token: str, addresses: Sequence[str]) -> SecuritySettings:
        """Where trading logins may come from (empty: anywhere)."""
        body = {"addresses": list(addresses)}
        return SecuritySettings.from_json(
            self._call("PUT", "/v1/account/ip-restrictions", json=body, token=token)
        )

    def set_penny_stocks(self, token: str, enabled: bool) -> SecuritySettings:
        """Penny-stock trading permission on or off."""
        body = {"enabled": enabled}
        return SecuritySettings.from_json(
            self._call("PUT", "/v1/account/penny-stocks", json=body, token=token)
        )

    def share(
        self, token: str, owner: str, password: str, device_id: str, *, mode: str | None = None
    ) -> ChallengeView:
        """Ask to share ``owner``'s device: the challenge that device must answer."""
        body: dict[str, Any] = {"owner": owner, "password": password, "device_id": device_id}
        if mode is not None:
            body["mode"] = mode
        return ChallengeView.from_json(self._call("POST", "/v1/sharing", json=body, token=token))

    def share_answer(self, token: str, challenge_id: str, answer: str | None) -> DeviceView:
        """The owner's device's answer; the device is then shared."""
        body: dict[str, Any] = {"challenge_id": challenge_id}
        if answer is not None:
            body["answer"] = answer
        return DeviceView.from_json(self._call("POST", "/v1/sharing/answer", json=body, token=token))

    def online_card(self, token: str) -> Enrollment:
        """A new Online Security Code Card (pending until activated)."""
        return Enrollment.from_json(self._call("POST", "/v1/online-card", token=token))

    def request_device(self, token: str, kind: str, *, pin: str | None = None) -> Enrollment:
        """Request a DSC+ (equity threshold) or a code card."""
        body: dict[str, Any] = {"kind": kind}
        if pin is not None:
            body["pin"] = pin
        return Enrollment.from_json(self._call("POST", "/v1/devices", json=body, token=token))

    def activate(self, token: str, device_id: str, *, mode: str | None = None) -> ChallengeView:
        """The challenge one of the user's devices answers to become active (again)."""
        body = {} if mode is None else {"mode": mode}
        path = f"/v1/devices/{device_id}/activation"
        return ChallengeView.from_json(self._call("POST", path, json=body, token=token))

    def activate_answer(self, token: str, device_id: str, challenge_id: str, answer: str) -> DeviceView:
        """Answer it; a reactivated permanent device ends temporary access."""
        body = {"challenge_id": challenge_id, "answer": answer}
        path = f"/v1/devices/{device_id}/activation/answer"
        return DeviceView.from_json(self._call("POST", path, json=body, token=token))

    def change_pin(self, token: str, device_id: str, new_pin: str) -> ChallengeView:
        """A PIN change (DSC+): the challenge to answer with the current PIN (then change_pin_current)."""
        path = f"/v1/devices/{device_id}/pin-change"
        return ChallengeView.from_json(self._call("POST", path, json={"new_pin": new_pin}, token=token))

    def change_pin_current(self, token: str, device_id: str, challenge_id: str, answer: str) -> ChallengeView:
        """Answer a PIN change's first challenge with the current PIN; the challenge for the new PIN."""
        body = {"challenge_id": challenge_id, "answer": answer}
        path = f"/v1/devices/{device_id}/pin-change/current"
        return ChallengeView.from_json(self._call("POST", path, token=token, json=body))

    def reset_pin(self, device_id: str, *, verification_id: str, new_pin: str) -> DeviceView:
        """Reset a forgotten PIN after an identity check (support)."""
        body = {"verification_id": verification_id, "new_pin": new_pin}
        return DeviceView.from_json(
            self._support_call("POST", f"/v1/support/devices/{device_id}/pin-reset", json=body)
        )

    def change_pin_answer(self, token: str, device_id: str, challenge_id: str, answer: str) -> DeviceView:
        """The answer computed with the new PIN."""
        body = {"challenge_id": challenge_id, "answer": answer}
        path = f"/v1/devices/{device_id}/pin-change/answer"
        return DeviceView.from_json(self._call("POST", path, json=body, token=token))

    def ib_key_instant_activation(
        self, username: str, password: str, *, number: str | None = None, os: str = "android"
    ) -> Enrollment:
        """IB Key's instant activation from the app: the activation token goes by SMS."""
        body: dict[str, Any] = {"username": username, "password": password, "os": os}
        if number is not None:
            body["number"] = number
        return Enrollment.from_json(self._call("POST", "/v1/ib-key/instant-activations", json=body))

    def ib_key_migration(self, username: str, password: str, *, os: str = "android") -> MigrationStarted:
        """Move IB Key to a new phone (a token by SMS, or a physical device answers)."""
        body = {"username": username, "password": password, "os": os}
        return MigrationStarted.from_json(self._call("POST", "/v1/ib-key/migrations", json=body))

    def ib_key_migration_answer(self, device_id: str, challenge_id: str, answer: str | None) -> str:
        """The physical device's answer; returns the new registration's activation token."""
        body: dict[str, Any] = {"challenge_id": challenge_id}
        if answer is not None:
            body["answer"] = answer
        data = self._call("POST", f"/v1/ib-key/migrations/{device_id}/answer", json=body)
        return str(data["activation_token"])

    def ib_key_recovery(
        self, username: str, password: str, registration: str, *, os: str | None = None
    ) -> MigrationStarted:
        """Recover IB Key on the same phone: the iOS app answers, else a physical device, else SMS."""
        body: dict[str, Any] = {"username": username, "password": password, "registration": registration}
        if os is not None:
            body["os"] = os
        return MigrationStarted.from_json(self._call("POST", "/v1/ib-key/recoveries", json=body))

    def ib_key_recovery_answer(self, device_id: str, challenge_id: str, answer: str) -> str | None:
        """Answer a recovery challenge; the recovery token (a physical device answered) or ``None``."""
        body = {"challenge_id": challenge_id, "answer": answer}
        data = self._call("POST", f"/v1/ib-key/recoveries/{device_id}/answer", json=body)
        token = data["activation_token"]
        return None if token is None else str(token)

    def ib_key_pin_change(self, username: str, password: str, registration: str) -> Enrollment:
        """Allow an IB Key PIN change: a code by SMS to the registration's number."""
        body = {"username": username, "password": password, "registration": registration}
        return Enrollment.from_json(self._call("POST", "/v1/ib-key/pin-changes", json=body))

    def ib_key_pin_change_answer(self, device_id: str, code: str) -> DeviceView:
        """The texted code; the app may then change its PIN."""
        path = f"/v1/ib-key/pin-changes/{device_id}/answer"
        return DeviceView.from_json(self._call("POST", path, json={"answer": code}))
