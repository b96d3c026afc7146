"""The tokensim pytest plugin, run the way its users run it: small test files under pytester.

Each test writes a test module (and sometimes an ini file) into a temporary folder, runs pytest on it
in this process (the plugin is loaded from its ``pytest11`` entry point, as in any environment where
tokensim is installed) and checks the outcomes and the messages a developer would read.
"""

from __future__ import annotations

import textwrap

import pytest

# Imported here so pytester's in-process runs find them already loaded (it forgets modules a run
# imports for the first time, and the next import would make second copies of their classes).
import tokensim.emulators.devices.dsc_plus
import tokensim.server.http.app
import tokensim.server.pytest_plugin
import tokensim.server.storage.reset
import tokensim.server.testing.harness  # noqa: F401

#: The plugin's modules: a failing assertion of theirs points at the test, never into them.
_PLUGIN_FILES = ("pytest_plugin.py", "testing/server.py", "testing/users.py", "testing/asgi.py")


def _assert_no_plugin_frames(result: pytest.RunResult) -> None:
    output = result.stdout.str()
    assert [name for name in _PLUGIN_FILES if name in output] == []


def _run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_app=textwrap.dedent(source))
    return pytester.runpytest("-p", "no:cacheprovider", "--strict-markers", *args)


def test_a_user_with_devices_logs_in_with_each_emulator(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
        def test_login(tokensim_user, tokensim_clock, tokensim):
            alice = tokensim_user(devices=["dsc-plus", "scc", "dsc", "ib-key", "phone"], username="alice")
            assert alice.password and alice.phones
            assert type(alice["dsc-plus"]).__name__ == "DscPlus"
            assert set(alice.emulators) == {"dsc-plus", "scc", "dsc", "ib-key", "phone"}
            for kind, mode in [("dsc-plus", None), ("scc", None), ("ib-key", "push"), ("phone", "sms")]:
                result = alice.login(kind, mode=mode)
                assert "trading" in result.grant.scope, kind
            tokensim_clock.advance(30)  # the DSC's activation used this time step
            assert alice.login("dsc").grant.username == "alice"
            tokensim.assert_sms_sent(to=alice.phones[0])
            tokensim.assert_login_succeeded("alice")
        """,
    )
    result.assert_outcomes(passed=1)


def test_each_test_starts_from_an_empty_server_and_the_same_time(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
        import pytest

        @pytest.mark.parametrize("run", [1, 2])
        def test_same_name_twice(tokensim_user, tokensim, tokensim_clock, run):
            assert tokensim_clock.now() == 1_700_000_040
            tokensim_user(username="alice")                    # taken in the other run, if not reset
            assert [r.event for r in tokensim.audit()].count("user.created") == 1
            assert tokensim.outbox() == []
            tokensim_clock.advance(3600)
        """,
        "-o",
        "tokensim_start_time=1700000040",
    )
    result.assert_outcomes(passed=2)


def test_a_wrong_answer_is_explained(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
        def test_numeric(tokensim_user, tokensim_client):
            bob = tokensim_user(devices=["dsc-plus"])
            started = tokensim_client.login(bob.username, bob.password)
            view = tokensim_client.challenge(started.login_id, bob.device_id("dsc-plus"))
            bob.assert_answer(view.to_json(), "00000000")

        def test_grid(tokensim_user, tokensim_client):
            carol = tokensim_user(devices=["scc"])
            started = tokensim_client.login(carol.username, carol.password)
            view = tokensim_client.challenge(started.login_id, carol.device_id("scc"))
            carol.assert_answer(view, "XXXXXX")

        def test_code(tokensim_user, tokensim_client, tokensim_clock):
            dave = tokensim_user(devices=["dsc"])
            tokensim_clock.advance(30)
            started = tokensim_client.login(dave.username, dave.password)
            view = tokensim_client.challenge(started.login_id, dave.device_id("dsc"))
            dave.assert_answer(view, "000000")

        def test_right(tokensim_user, tokensim_client):
            erin = tokensim_user(devices=["dsc-plus"])
            started = tokensim_client.login(erin.username, erin.password)
            view = tokensim_client.challenge(started.login_id, erin.device_id("dsc-plus"))
            typed = erin["dsc-plus"].respond(view.challenge.question, "1234")
            erin.assert_answer(view, typed)
            tokensim_client.answer(started.login_id, view.id, typed)
        """,
    )
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.re_match_lines(
        [
            r"E\s+AssertionError: expected the response to challenge \d{6} under suite "
            r"OCRA-1:HOTP-SHA1-8:QN06-PSHA1, got '00000000'; the dsc-plus \S+ with PIN 1234 answers \d{8}",
        ],
        consecutive=False,
    )
    result.stdout.re_match_lines([r"E\s+AssertionError: expected the values of cells \d+, \d+ of card scc "])
    result.stdout.re_match_lines(
        [r"E\s+AssertionError: expected the dsc code for time step \d+ \(TOTP-SHA1-6, 30 s, clock at \d+\)"]
    )
    # The failure points at the test, not into the plugin.
    _assert_no_plugin_frames(result)


def test_outbox_and_audit_assertions_say_what_there_was(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
        def test_no_login(tokensim_user, tokensim):
            tokensim_user(username="frank")
            tokensim.assert_no_login_attempts()
            tokensim.assert_nothing_sent()
            tokensim.assert_not_audited("session.created")

        def test_login_seen(tokensim_user, tokensim):
            grace = tokensim_user(devices=["scc"], username="grace")
            grace.login()
            tokensim.assert_no_login_attempts("grace")

        def test_sms_to_another_number(tokensim_user, tokensim):
            heidi = tokensim_user(devices=["phone"], username="heidi", phones=["+15550001111"])
            heidi.login(mode="sms")
            tokensim.assert_sms_sent(to="+15559999999")

        def test_voice_call(tokensim_user, tokensim):
            ivan = tokensim_user(devices=["phone"], username="ivan")
            ivan.login(mode="voice")
            call = tokensim.assert_call_made(to=ivan.phones[0])
            assert call.channel == "voice"
            tokensim.assert_call_made(to="+15550000000")
        """,
    )
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.re_match_lines(
        [r"E\s+AssertionError: expected no login attempts for grace; the audit log has login.password:ok"]
    )
    result.stdout.re_match_lines(
        [r"E\s+AssertionError: expected an SMS to \+15559999999; the carrier sent sms to \+15550001111: '.*'"]
    )
    result.stdout.re_match_lines(
        [
            r"E\s+AssertionError: expected a voice call to \+15550000000; "
            r"the carrier sent sms to \+1555\d+: '.*'; voice to \+1555\d+: '.*'"
        ]
    )
    result.stdout.re_match_lines(
        [r"E\s+AssertionError: expected no login attempts for grace; .*session.created"]
    )
    _assert_no_plugin_frames(result)


STRICT_SOURCE = """
import pytest

def test_leaves_a_challenge_open(tokensim_user, tokensim_client):
    judy = tokensim_user(devices=["dsc-plus"], username="judy")
    started = tokensim_client.login(judy.username, judy.password)
    tokensim_client.challenge(started.login_id, judy.device_id("dsc-plus"))

@pytest.mark.tokensim(strict=False)
def test_not_strict_here(tokensim_user, tokensim_client):
    judy = tokensim_user(devices=["dsc-plus"], username="judy")
    started = tokensim_client.login(judy.username, judy.password)
    tokensim_client.challenge(started.login_id, judy.device_id("dsc-plus"))
"""


def test_unanswered_challenges_pass_by_default(pytester: pytest.Pytester) -> None:
    _run(pytester, STRICT_SOURCE).assert_outcomes(passed=2)


def test_strict_ini_fails_a_test_that_leaves_a_challenge_open(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntokensim_strict = true\n")
    result = _run(pytester, STRICT_SOURCE)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.re_match_lines(
        [r".*tokensim: challenge \w+ \(numeric\) for judy's dsc-plus was never answered"]
    )
    assert "test_not_strict_here" not in "\n".join(
        line for line in result.stdout.lines if line.startswith("ERROR")
    )


def test_strict_mode_passes_refusals_a_test_provoked(pytester: pytest.Pytester) -> None:
    # A wrong answer leaves its challenge open (the device takes more tries), but the test answered it
    # and saw the refusal: strictness is for what a test forgot, not for what it provoked.
    pytester.makeini("[pytest]\ntokensim_strict = true\n")
    source = """
    import pytest
    from tokensim.server.client import ProblemError

    def test_wrong_answer(tokensim_user, tokensim_client):
        bob = tokensim_user(devices=["dsc-plus"])
        started = tokensim_client.login(bob.username, bob.password)
        view = tokensim_client.challenge(started.login_id, bob.device_id("dsc-plus"))
        with pytest.raises(ProblemError) as refused:
            tokensim_client.answer(started.login_id, view.id, "00000000")
        assert refused.value.code == "wrong-answer"

    def test_unknown_user(tokensim_client):
        with pytest.raises(ProblemError) as refused:
            tokensim_client.login("nobody", "wrong")
        assert refused.value.status == 401

    def test_left_open_on_purpose(tokensim_user, tokensim_client, tokensim):
        carol = tokensim_user(devices=["scc", "dsc-plus"])
        started = tokensim_client.login(carol.username, carol.password)
        tokensim.leave_unanswered(tokensim_client.challenge(started.login_id, carol.device_id("scc")))
        second = tokensim_client.login(carol.username, carol.password)
        view = tokensim_client.challenge(second.login_id, carol.device_id("dsc-plus"))
        tokensim.leave_unanswered(view.to_json())

    def test_one_forgotten(tokensim_user, tokensim_client, tokensim):
        dave = tokensim_user(devices=["scc", "dsc-plus"], username="dave")
        started = tokensim_client.login(dave.username, dave.password)
        tokensim.leave_unanswered(tokensim_client.challenge(started.login_id, dave.device_id("scc")).id)
        second = tokensim_client.login(dave.username, dave.password)
        tokensim_client.challenge(second.login_id, dave.device_id("dsc-plus"))
    """
    result = _run(pytester, source)
    result.assert_outcomes(passed=4, errors=1)
    errors = [line for line in result.stdout.lines if line.startswith("ERROR")]
    assert len(errors) == 1
    assert "test_one_forgotten" in errors[0]
    result.stdout.re_match_lines(
        [r"tokensim: challenge \w+ \(numeric\) for dave's dsc-plus was never answered$"]
    )
    assert "dave's scc" not in result.stdout.str()


def test_require_answered_challenges_alone(pytester: pytest.Pytester) -> None:
    # The marker's strict=False turns off only what strict turns on; the ini's own key still holds.
    pytester.makeini("[pytest]\ntokensim_require_answered_challenges = true\n")
    _run(pytester, STRICT_SOURCE).assert_outcomes(passed=2, errors=2)


def test_a_server_error_fails_the_test(pytester: pytest.Pytester) -> None:
    source = """
    import pytest
    from tokensim.server.users import Users
    from tokensim.server.client import ProblemError

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the server")

    def _provoke(tokensim_client, monkeypatch):
        monkeypatch.setattr(Users, "get_user", broken)
        with pytest.raises(ProblemError) as caught:
            tokensim_client.user("nobody")
        assert caught.value.status == 500

    def test_fails(tokensim_client, monkeypatch):
        _provoke(tokensim_client, monkeypatch)

    @pytest.mark.tokensim(fail_on_server_error=False)
    def test_allowed(tokensim_client, monkeypatch):
        _provoke(tokensim_client, monkeypatch)
    """
    result = _run(pytester, source)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.re_match_lines(
        [r".*tokensim: the tokensim server answered 500 to GET /v1/support/users/nobody"]
    )


def test_the_marker_is_registered_and_checked(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
        import pytest

        @pytest.mark.tokensim(start_time=1_000_000_000)
        def test_start(tokensim_clock):
            assert tokensim_clock.now() == 1_000_000_000

        @pytest.mark.tokensim(stirct=True)
        def test_typo(tokensim):
            pass
        """,
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.re_match_lines([r".*@pytest.mark.tokensim takes keyword arguments .*, got \['stirct'\]"])
    marker_help = pytester.runpytest("--markers").stdout.str()
    assert "@pytest.mark.tokensim(strict=None" in marker_help


def test_ini_keys_are_registered(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntokensim_strict = true\ntokensim_fail_on_server_error = false\n")
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    # --strict-config turns an unknown ini key into an error.
    pytester.runpytest("--strict-config").assert_outcomes(passed=1)
    helped = pytester.runpytest("--help").stdout.str()
    for key in ("tokensim_strict", "tokensim_require_answered_challenges", "tokensim_start_time"):
        assert key in helped


def test_a_session_without_tokensim_fixtures_starts_no_server(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_plain="""
        import sys

        def test_plain():
            assert "tokensim.server.http.app" not in sys.modules
            assert "tokensim.emulators" not in sys.modules
        """
    )
    # A fresh interpreter, so this process's imports do not count.
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_the_plugin_can_be_turned_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_off="def test_off(tokensim):\n    pass\n")
    result = pytester.runpytest("-p", "no:tokensim")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'tokensim' not found*"])


def test_a_session_setting_from_a_config_file(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", server="device_max_failures = 2\n")
    pytester.makeini("[pytest]\ntokensim_config = server.toml\n")
    result = _run(
        pytester,
        """
        import pytest
        from tokensim.server.client import ProblemError

        def test_locks_after_two(tokensim_user, tokensim_client, tokensim_config):
            assert tokensim_config.device_max_failures == 2
            kim = tokensim_user(devices=["dsc-plus"])
            codes = []
            for _ in range(2):
                started = tokensim_client.login(kim.username, kim.password)
                view = tokensim_client.challenge(started.login_id, kim.device_id("dsc-plus"))
                with pytest.raises(ProblemError) as caught:
                    tokensim_client.answer(started.login_id, view.id, "00000000")
                codes.append(caught.value.code)
            assert codes == ["wrong-answer", "device-locked"]
        """,
    )
    result.assert_outcomes(passed=1)


def test_an_app_speaking_http_to_the_server(pytester: pytest.Pytester) -> None:
    # The developer's flow: their own code talks HTTP to tokensim_url; the test plays the user.
    result = _run(
        pytester,
        """
        import httpx

        def start_login(base_url, username, password):
            with httpx.Client(base_url=base_url) as http:
                login = http.post("/v1/login", json={"username": username, "password": password}).json()
                device = next(d for d in login["devices"] if d["kind"] == "dsc-plus")
                challenge = http.post(
                    f"/v1/login/{login['login_id']}/challenge", json={"device_id": device["id"]}
                ).json()
            return login["login_id"], challenge

        def finish_login(base_url, login_id, challenge_id, answer):
            with httpx.Client(base_url=base_url) as http:
                response = http.post(
                    f"/v1/login/{login_id}/answer", json={"challenge_id": challenge_id, "answer": answer}
                )
            return response.status_code, response.json()

        def test_app_login(tokensim_url, tokensim_user, tokensim):
            alice = tokensim_user(devices=["dsc-plus"])
            login_id, challenge = start_login(tokensim_url, alice.username, alice.password)
            status, body = finish_login(tokensim_url, login_id, challenge["id"], alice.answer(challenge))
            assert status == 201 and "trading" in body["scope"]
            answers = [r for r in tokensim.requests if r.path == f"/v1/login/{login_id}/answer"]
            assert [r.status for r in answers] == [201]

        def test_app_refused(tokensim_url, tokensim_user):
            alice = tokensim_user(devices=["dsc-plus"])
            login_id, challenge = start_login(tokensim_url, alice.username, alice.password)
            status, body = finish_login(tokensim_url, login_id, challenge["id"], "12345678")
            assert (status, body["code"]) == (401, "wrong-answer")
        """,
    )
    result.assert_outcomes(passed=2)


def test_user_factory_refuses_bad_kinds(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
        def test_unknown(tokensim_user):
            tokensim_user(devices=["dscplus"])

        def test_twice(tokensim_user):
            tokensim_user(devices=["scc", "scc"])
        """,
    )
    result.assert_outcomes(failed=2)
    result.stdout.re_match_lines([r"E\s+ValueError: unknown device kind 'dscplus'; the kinds are scc, .*"])
    result.stdout.re_match_lines([r"E\s+ValueError: devices: \['scc'\] listed twice; .*add_device.*"])
