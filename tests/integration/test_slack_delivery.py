"""Alert delivery through slack-sdk against the local Slack Web API server."""

from __future__ import annotations

import io
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.judge.findings import record
from monitor.models import Finding
from monitor.outputs.alerts.budget import Limits
from monitor.outputs.alerts.outbox import deliver
from monitor.outputs.alerts.slack import (
    ConsoleSink,
    SlackSink,
    SlackWebhookSink,
    make_web_client,
    make_webhook_client,
)
from monitor.sandbox.slack import AfterPost
from monitor.store.sqlite import Store
from tests.conftest import SlackApi
from tests.support.findings import NOW, make_finding

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@pytest.fixture
def slack(slack_api: SlackApi) -> SlackApi:
    slack_api.clear()
    return slack_api


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "p.db")


def bot(slack: SlackApi, url: str | None = None) -> SlackSink:
    client = make_web_client("xoxb-test", url or slack.url)
    return SlackSink(client, {"high": "#sec-high"}, "#pgwarden")


def queue(store: Store, *findings: Finding, at: Any = NOW) -> None:
    by_detector: dict[str, list[Finding]] = {}
    for f in findings:
        by_detector.setdefault(f.detector, []).append(f)
    for detector, items in by_detector.items():
        record(store, detector, items, at, realert=HOUR)


def pending(store: Store) -> int:
    return int(
        store.conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchall()[0][0]
    )


def fingerprints(slack: SlackApi) -> list[str]:
    return [m["metadata"]["event_payload"]["fingerprint"] for m in slack.messages]


def test_slack_happy_path_threads_and_channels(store: Store, slack: SlackApi) -> None:
    low, high = make_finding(subject="a"), make_finding(subject="b", severity="high")
    queue(store, low, high)
    summary = deliver(store, bot(slack), NOW, Limits(20, DAY))
    assert (summary.sent, summary.pending, summary.error) == (2, 0, None)
    # High goes first: nothing queued before it delays it.
    assert [m["channel"] for m in slack.messages] == ["#sec-high", "#pgwarden"]
    first_ts = store.conn.execute(
        "SELECT slack_ts FROM outbox WHERE fingerprint = ?", (low.fingerprint,)
    ).fetchall()[0][0]
    # A repeat and then the resolve go into the finding's thread.
    queue(store, low, high, at=NOW + 2 * HOUR)
    queue(store, at=NOW + 3 * HOUR)
    record(store, low.detector, [], NOW + 3 * HOUR, realert=HOUR)
    deliver(store, bot(slack), NOW + 3 * HOUR, Limits(20, DAY))
    threaded = [
        m
        for m in slack.messages[2:]
        if m["metadata"]["event_payload"]["fingerprint"] == low.fingerprint
    ]
    assert [m["metadata"]["event_payload"]["kind"] for m in threaded] == ["repeat", "resolved"]
    assert all(m["thread_ts"] == first_ts for m in threaded)
    assert pending(store) == 0


def test_slack_429_retry_after_is_honoured(store: Store, slack: SlackApi) -> None:
    queue(store, make_finding())
    slack.fail_next(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
    started = time.monotonic()
    summary = deliver(store, bot(slack), NOW, Limits(20, DAY))
    assert time.monotonic() - started >= 1.0
    assert summary.sent == 1
    assert len(slack.messages) == 1


def test_slack_500s_back_off_then_deliver(store: Store, slack: SlackApi) -> None:
    queue(store, make_finding())
    # A 5xx may come after Slack posted: the client does not retry it blindly.
    slack.fail_next(500)
    summary = deliver(store, bot(slack), NOW, Limits(20, DAY))
    assert summary.sent == 0 and summary.pending == 1
    assert summary.error is not None and "HTTP 500" in summary.error
    # Backed off: nothing is tried before next_attempt_at.
    assert deliver(store, bot(slack), NOW + timedelta(seconds=4), Limits(20, DAY)).sent == 0
    assert deliver(store, bot(slack), NOW + HOUR, Limits(20, DAY)).sent == 1
    assert len(slack.messages) == 1


def test_slack_outage_then_back_in_order_exactly_once(
    store: Store, slack: SlackApi, free_port: Any
) -> None:
    findings = [make_finding(subject=f"s{i}") for i in range(4)]
    queue(store, *findings)
    dead = bot(slack, f"http://127.0.0.1:{free_port()}/api/")
    moment = NOW
    for _ in range(3):
        summary = deliver(store, dead, moment, Limits(20, DAY))
        assert summary.sent == 0 and "unreachable" in (summary.error or "")
        moment += HOUR
    assert pending(store) == 4
    summary = deliver(store, bot(slack), moment, Limits(20, DAY))
    assert summary.sent == 4
    assert fingerprints(slack) == [f.fingerprint for f in findings]
    assert deliver(store, bot(slack), moment + HOUR, Limits(20, DAY)).sent == 0
    assert len(slack.messages) == 4


def killed() -> None:
    raise KeyboardInterrupt("killed")  # the process dies between Slack's answer and the mark


def test_slack_crash_between_send_and_mark_posts_once(store: Store, slack: SlackApi) -> None:
    queue(store, make_finding(subject="a"), make_finding(subject="b"))
    with pytest.raises(KeyboardInterrupt):
        deliver(store, AfterPost(bot(slack), killed), NOW, Limits(20, DAY))
    summary = deliver(store, bot(slack), NOW, Limits(20, DAY))
    # The claim of the first post is found in the channel: marked sent, not posted again.
    assert (summary.found, summary.sent, summary.pending) == (1, 1, 0)
    ids = [m["metadata"]["event_payload"]["outbox_id"] for m in slack.messages]
    assert sorted(ids) == [1, 2]
    ts = store.conn.execute("SELECT slack_ts FROM outbox WHERE id = 1").fetchall()[0][0]
    assert ts == slack.posted.timestamps()[0]  # threads of later repeats hang off the real message


def test_slack_answer_after_the_client_timeout_posts_once(store: Store, slack: SlackApi) -> None:
    queue(store, make_finding(subject="slow"))
    client = make_web_client("xoxb-test", slack.url)
    client.timeout = 1  # the real client's 15 s, shortened so the test waits 2 s, not 20
    sink = SlackSink(client, {}, "#pgwarden")
    slack.delay_next(2)
    summary = deliver(store, sink, NOW, Limits(20, DAY))
    assert summary.sent == 0 and "timed out" in (summary.error or "")
    assert len(slack.messages) == 1  # Slack took it; the answer came too late
    # The next try looks in the channel first, finds the claim, and posts nothing.
    summary = deliver(store, sink, NOW + HOUR, Limits(20, DAY))
    assert (summary.found, summary.sent, summary.pending, summary.error) == (1, 0, 0, None)
    assert len(slack.messages) == 1
    history = [method for method, _ in slack.requests if method.startswith("conversations.")]
    assert history == ["conversations.list", "conversations.history"]


def test_slack_history_unreachable_keeps_the_claim(store: Store, slack: SlackApi) -> None:
    queue(store, make_finding(subject="unsure"))
    client = make_web_client("xoxb-test", slack.url)
    client.timeout = 1
    sink = SlackSink(client, {}, "#pgwarden")
    slack.delay_next(2)
    assert "timed out" in (deliver(store, sink, NOW, Limits(20, DAY)).error or "")
    time.sleep(1.2)  # the late answer is out: what follows is the history's own fault
    for _ in range(3):  # conversations.list and both of its retries
        slack.fail_next(503)
    summary = deliver(store, sink, NOW + HOUR, Limits(20, DAY))
    assert "HTTP 503" in (summary.error or "") and summary.sent == 0
    # Still claimed: the next run looks again rather than posting blind.
    summary = deliver(store, sink, NOW + 2 * HOUR, Limits(20, DAY))
    assert (summary.found, summary.sent, summary.pending) == (1, 0, 0)
    assert len(slack.messages) == 1


def test_slack_claim_not_in_slack_is_posted_again(store: Store, slack: SlackApi) -> None:
    queue(store, make_finding(subject="lost"))
    slack.fail_next(503)  # Slack may or may not have taken it: here it did not
    summary = deliver(store, bot(slack), NOW, Limits(20, DAY))
    assert "HTTP 503" in (summary.error or "") and slack.messages == []
    summary = deliver(store, bot(slack), NOW + HOUR, Limits(20, DAY))
    assert (summary.found, summary.sent) == (0, 1)
    assert len(slack.messages) == 1


def test_slack_two_deliverers_never_post_the_same_row(store: Store, slack: SlackApi) -> None:
    from monitor.store.locks import FileLock

    queue(store, make_finding(subject="one"))
    other = FileLock(store.path, ".deliver.lock")  # another process's delivery run
    try:
        assert other.try_acquire()
        summary = deliver(store, bot(slack), NOW, Limits(20, DAY))
        assert (summary.busy, summary.sent, summary.pending) == (True, 0, 1)
    finally:
        other.close()
    assert deliver(store, bot(slack), NOW, Limits(20, DAY)).sent == 1
    assert len(slack.messages) == 1


def test_slack_flood_becomes_one_digest(store: Store, slack: SlackApi) -> None:
    queue(store, *(make_finding(subject=f"s{i}") for i in range(6)))
    summary = deliver(store, bot(slack), NOW, Limits(5, DAY))
    assert (summary.digested, summary.sent) == (6, 0)
    assert len(slack.messages) == 1
    assert "*6 alerts*" in json.dumps(slack.messages[0]["blocks"])
    assert pending(store) == 0


def test_slack_old_backlog_becomes_digest(store: Store, slack: SlackApi) -> None:
    queue(store, make_finding(subject="old"))
    queue(store, make_finding(subject="fresh", detector="new-source"), at=NOW + 2 * DAY)
    summary = deliver(store, bot(slack), NOW + 2 * DAY, Limits(20, DAY))
    assert (summary.digested, summary.sent) == (1, 1)
    kinds = [m["metadata"]["event_payload"]["kind"] for m in slack.messages]
    assert kinds == ["digest", "new"]


def test_slack_webhook_variant(store: Store, slack: SlackApi) -> None:
    sink = SlackWebhookSink(make_webhook_client(slack.url.replace("/api/", "/hook")))
    queue(store, make_finding())
    slack.fail_next(500, {"ok": False}, {})  # one try: a webhook post may have landed
    summary = deliver(store, sink, NOW, Limits(20, DAY))
    assert summary.sent == 0 and "webhook failed: HTTP 500" in (summary.error or "")
    summary = deliver(store, sink, NOW + HOUR, Limits(20, DAY))
    assert summary.sent == 1
    ((method, body),) = slack.requests
    assert method == "webhook"
    assert body["text"].startswith("[medium]")


def test_slack_console_sink_prints_exact_payload(store: Store) -> None:
    out = io.StringIO()
    queue(store, make_finding(user="<!channel>"))
    deliver(store, ConsoleSink(stream=out), NOW, Limits(20, DAY))
    payload = json.loads(out.getvalue())
    assert payload["channel"] == "#pgwarden"
    assert payload["metadata"]["event_type"] == "pgwarden_alert"
    assert "<!channel>" not in out.getvalue()
