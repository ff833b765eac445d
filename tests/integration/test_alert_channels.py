"""Alerts that no flood, dead channel or long outage can silence, through the local Slack
Web API server: the budget, parked channels and `alerts retry-parked`, and the backoff bound."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.outputs.alerts.budget import Limits
from monitor.outputs.alerts.outbox import BACKOFF_MAX, deliver
from monitor.outputs.alerts.parking import readiness, resume
from monitor.store.outbox import parked
from monitor.store.sqlite import Store
from tests.conftest import SlackApi
from tests.integration.test_slack_delivery import bot, queue, slack, store
from tests.support.findings import NOW, make_finding

__all__ = ["slack", "store"]  # fixtures shared with test_slack_delivery.py

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
ENV = {"PGWARDEN_TEST_SLACK": "xoxb-cli-test"}


def payloads(slack: SlackApi, channel: str) -> list[dict[str, Any]]:
    return [m["metadata"]["event_payload"] for m in slack.messages if m["channel"] == channel]


def test_budget_high_goes_alone_and_digest_names_the_21(store: Store, slack: SlackApi) -> None:
    # 21 failed-login findings under made-up names, from one host: no credentials needed.
    lows = [make_finding(subject=f"t/u{i}", user=f"fake{i:02d}", severity="low") for i in range(21)]
    high = make_finding(subject="assume", detector="unexpected-assume-source", severity="high")
    queue(store, *lows[:10], high, *lows[10:])
    summary = deliver(store, bot(slack), NOW, Limits(20, DAY))
    assert (summary.sent, summary.digested, summary.error) == (1, 21, None)
    first, digest = slack.messages
    assert first["channel"] == "#sec-high"
    assert first["metadata"]["event_payload"]["fingerprint"] == high.fingerprint
    text = json.dumps(digest["blocks"], ensure_ascii=False)
    assert digest["metadata"]["event_payload"]["kind"] == "digest"
    assert "21 alerts from source host 10.0.0.5 in one run" in digest["text"]
    for i in range(21):
        assert f"5 failed logins as fake{i:02d}" in text


def test_budget_one_noisy_detector_leaves_the_others_their_own_messages(
    store: Store, slack: SlackApi
) -> None:
    noisy = [
        make_finding(subject=f"n{i}", detector="new-source", host=f"10.1.0.{i}") for i in range(11)
    ]
    quiet = [make_finding(subject=f"q{i}", host=f"10.2.0.{i}") for i in range(3)]
    queue(store, *noisy, *quiet)
    summary = deliver(store, bot(slack), NOW, Limits(20, DAY))
    assert (summary.sent, summary.digested) == (3, 11)
    kinds = [p["kind"] for p in payloads(slack, "#pgwarden")]
    assert kinds == ["digest", "new", "new", "new"]
    assert "from detector new-source in one run" in slack.messages[0]["text"]


def test_parking_dead_channel_healthy_delivered_in_order(store: Store, slack: SlackApi) -> None:
    slack.dead["#sec-high"] = "channel_not_found"
    lows = [make_finding(subject=f"l{i}", host=f"10.0.0.{i}") for i in range(4)]
    highs = [make_finding(subject=f"h{i}", severity="high", host=f"10.9.0.{i}") for i in range(2)]
    queue(store, lows[0], highs[0], lows[1], highs[1], lows[2], lows[3])
    summary = deliver(store, bot(slack), NOW, Limits(20, DAY))
    assert summary.sent == 4 and summary.parked == 2
    assert "channel_not_found" in (summary.error or "")
    healthy = payloads(slack, "#pgwarden")
    assert [p["fingerprint"] for p in healthy[:4]] == [f.fingerprint for f in lows]
    # One notice about the parked channel, through the channel that works.
    assert [p["kind"] for p in healthy[4:]] == ["parked"]
    notice = json.dumps(slack.messages[-1]["blocks"])
    assert "channel_not_found" in notice and "2 alerts" in notice
    assert "retry-parked --channel '#sec-high'" in notice
    assert readiness(store.path, 5000)[0].startswith("slack channel #sec-high parked since")
    # Later runs neither retry the dead channel nor repeat the notice.
    more = make_finding(subject="l9", host="10.0.0.9", detector="new-source")
    queue(store, more, at=NOW + HOUR)
    summary = deliver(store, bot(slack), NOW + HOUR, Limits(20, DAY))
    assert (summary.sent, summary.parked) == (1, 2)
    assert [p["kind"] for p in payloads(slack, "#pgwarden")].count("parked") == 1


def test_parking_retry_parked_loses_and_repeats_nothing(store: Store, slack: SlackApi) -> None:
    slack.dead["#sec-high"] = "not_in_channel"
    highs = [make_finding(subject=f"h{i}", severity="high", host=f"10.9.0.{i}") for i in range(3)]
    low = make_finding(subject="l")
    queue(store, highs[0], low, highs[1], highs[2])
    deliver(store, bot(slack), NOW, Limits(20, DAY))
    assert list(parked(store.conn)) == ["#sec-high"]
    del slack.dead["#sec-high"]  # someone invited the bot
    assert resume(store) == ["#sec-high"]
    summary = deliver(store, bot(slack), NOW + HOUR, Limits(20, DAY))
    assert (summary.sent, summary.pending, summary.parked, summary.error) == (3, 0, 0, None)
    assert [p["fingerprint"] for p in payloads(slack, "#sec-high")] == [
        f.fingerprint for f in highs
    ]
    sent = Counter(
        p["fingerprint"] for p in (m["metadata"]["event_payload"] for m in slack.messages)
    )
    assert all(n == 1 for fp, n in sent.items() if not fp.startswith("parked:"))
    assert deliver(store, bot(slack), NOW + 2 * HOUR, Limits(20, DAY)).sent == 0


def test_backoff_probes_within_bound_after_a_long_outage(
    store: Store, slack: SlackApi, free_port: Any
) -> None:
    queue(store, make_finding())
    dead = bot(slack, f"http://127.0.0.1:{free_port()}/api/")
    moment = NOW
    for _ in range(6):  # a long outage: six failed runs, an hour apart
        assert deliver(store, dead, moment, Limits(20, DAY)).sent == 0
        (next_at,) = store.conn.execute("SELECT next_attempt_at FROM outbox").fetchall()[0]
        assert datetime.fromisoformat(next_at) - moment <= BACKOFF_MAX
        moment += HOUR
    # Days of failures later the delay is still capped (and computing it does not overflow).
    store.conn.execute("UPDATE outbox SET attempts = 5000")
    assert deliver(store, dead, moment, Limits(20, DAY)).error
    (next_at,) = store.conn.execute("SELECT next_attempt_at FROM outbox").fetchall()[0]
    assert datetime.fromisoformat(next_at) - moment == BACKOFF_MAX
    # Slack is back: the next delivery run (every 15 s in the daemon) sends it.
    back = moment + BACKOFF_MAX
    assert deliver(store, bot(slack), back, Limits(20, DAY)).sent == 1


def test_alerts_cli_retry_parked_resumes_a_fixed_channel(
    tmp_path: Path, slack: SlackApi, run_cli: Any
) -> None:
    config = tmp_path / "pgwarden.toml"
    config.write_text(
        '[store]\npath = "p.db"\n[alerts.slack]\nenabled = true\n'
        f'token = "env:PGWARDEN_TEST_SLACK"\nbase_url = "{slack.url}"\n'
        'channel = "#pgwarden"\nchannels = { high = "#sec-high" }\n'
    )
    with Store.open(tmp_path / "p.db") as store:
        queue(store, make_finding(subject="h", severity="high"), at=datetime.now(UTC))
    slack.dead["#sec-high"] = "is_archived"
    result = run_cli("alerts", "deliver", "--config", str(config), env=ENV)
    assert result.returncode == 1
    assert "waiting 1 (1 for parked channels)" in result.stdout and "is_archived" in result.stdout
    del slack.dead["#sec-high"]
    result = run_cli("alerts", "retry-parked", "--channel", "#sec-high", "--config", str(config))
    assert (result.returncode, result.stdout) == (0, "#sec-high: resumed\n")
    result = run_cli("alerts", "deliver", "--config", str(config), env=ENV)
    assert "sent 1, in digests 0, waiting 0" in result.stdout, result.stderr
    assert [m["channel"] for m in slack.messages] == ["#pgwarden", "#sec-high"]
    result = run_cli("alerts", "retry-parked", "--channel", "#sec-high", "--config", str(config))
    assert result.returncode == 2 and "not parked: #sec-high" in result.stderr
