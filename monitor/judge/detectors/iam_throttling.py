"""iam-throttling: IAM logins refused for throttling, in a burst.

    [detectors.iam-throttling]
    window_seconds = 60   # ThrottlingException failures ...
    min_count = 5         # ... at least this many within the window
    lookback_hours = 24   # a burst older than this no longer holds: the finding resolves

RDS throttles IAM database authentication: "IAM DB authentication throttling limit is 200
connections per second" (AWS, "Troubleshooting for IAM DB authentication",
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.Troubleshooting.html),
and AWS suggests IAM authentication for applications opening fewer than 200 new
connections per second ("IAM database authentication",
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.html).
A burst of `ThrottlingException` lines in the `iam-db-auth-error` export means new IAM
connections arrive near that ceiling and applications are failing to log in. These
failures are no guesses at a password: failure-burst leaves them to this detector.
Needs: the `iam-db-auth-error` log export.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

from pydantic import Field

from monitor.judge.detectors.registry import DetectorOptions, register
from monitor.judge.detectors.windows import densest
from monitor.models import EvidenceItem, Finding
from monitor.store import evidence
from monitor.store.evidence import Attempt
from monitor.store.fronting import via_text

# AWS's figure (see above), for the finding's words.
CEILING_PER_SECOND = 200


class IamThrottlingOptions(DetectorOptions):
    window_seconds: float = Field(default=60, gt=0)
    min_count: int = Field(default=5, ge=1)
    lookback_hours: float = Field(default=24, gt=0)


@register("iam-throttling", IamThrottlingOptions, evidence.iam_throttled)
def detect(data: list[Attempt], now: datetime, opts: IamThrottlingOptions) -> list[Finding]:
    by_target: dict[str, list[Attempt]] = defaultdict(list)
    for attempt in data:
        by_target[attempt.target].append(attempt)
    findings = []
    for target, attempts in sorted(by_target.items()):
        attempts.sort(key=lambda a: a.time)
        i, j = densest([a.time for a in attempts], timedelta(seconds=opts.window_seconds))
        if j - i >= opts.min_count:
            findings.append(_finding(target, attempts[i:j], opts))
    return findings


def _finding(target: str, burst: list[Attempt], opts: IamThrottlingOptions) -> Finding:
    users = Counter((a.user, a.via) for a in burst)
    window = f"{opts.window_seconds:g} s"
    return Finding(
        detector="iam-throttling",
        subject=target,
        severity="high",
        title=f"{len(burst)} IAM logins to {target} throttled within {window}",
        why=(
            f"RDS refused {len(burst)} IAM logins to {target} with ThrottlingException within"
            f" {window}: new IAM connections are arriving near AWS's ceiling of about"
            f" {CEILING_PER_SECOND} per second, and applications are failing to log in."
        ),
        remedy=(
            "Open fewer new IAM connections: pool connections in the application, or put RDS"
            " Proxy in front of the database; reuse a token for its 15 minutes instead of one"
            " per connection; and retry failed logins with exponential back-off and jitter."
        ),
        target=target,
        db_user=burst[0].user if len(users) == 1 else None,
        evidence=tuple(
            EvidenceItem(
                min(a.time for a in burst if (a.user, a.via) == (user, via)),
                f"throttled IAM login as {user}{via_text(via)}",
                None,
                count,
            )
            for (user, via), count in users.most_common()
        ),
        details={"throttled": len(burst), "first": burst[0].time.isoformat()},
    )
