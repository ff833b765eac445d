"""The access review as one self-contained HTML page. Pure: a `Review` in, HTML text out.

No CDN, no external file, no font download: styles, SVG charts and the few lines of
script that sort the table are all inline, so the page works offline and as an email
attachment. Every value from the store goes through `inert(value, "html")`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from monitor.outputs.formats import csv_cell, inert
from monitor.outputs.reports import charts

if TYPE_CHECKING:
    from monitor.outputs.reports.summary import Review

TABLE_COLUMNS = (
    ("target", "target", "text"),
    ("db_user", "db user", "text"),
    ("account_name", "account", "text"),
    ("proxies", "via proxies", "text"),
    ("rds_iam", "rds_iam", "text"),
    ("sessions_in_period", "sessions", "num"),
    ("distinct_client_hosts", "hosts", "num"),
    ("distinct_applications", "apps", "num"),
    ("last_seen", "last seen (UTC)", "text"),
    ("days_since_last_seen", "days since", "num"),
    ("auth_failures_in_period", "auth failures", "num"),
    ("open_findings", "open findings", "num"),
    ("recommendation", "recommendation", "text"),
    ("reason", "reason", "text"),
)
COLORS = {"keep": "#2ca02c", "review": "#ff7f0e", "revoke": "#d62728"}
TARGETS_SHOWN = 8  # the busiest targets get their own colour; the rest are "other targets"

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#222;
background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.muted{color:#666;font-size:13px}
.counts{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.count{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:110px}
.count b{display:block;font-size:24px}.count.revoke b{color:#d62728}
.count.review b{color:#ff7f0e}.count.keep b{color:#2ca02c}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(640px,1fr));gap:16px}
figure{margin:0;border:1px solid #ddd;border-radius:6px;padding:8px}
figcaption{font-weight:600;font-size:14px;margin-bottom:4px}
table{border-collapse:collapse;font-size:12px;width:100%}
th,td{border-bottom:1px solid #eee;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f4f4f4;cursor:pointer;user-select:none;position:sticky;top:0}
th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
td.num{text-align:right}td.revoke{color:#d62728;font-weight:600}
td.review{color:#c05f00;font-weight:600}
"""

# Sorts the table by a clicked header; `#sort=<column>` (or `#sort=-<column>`, descending)
# applies a sort on load, which is how the page's test drives it.
SCRIPT = """
(function () {
  var table = document.getElementById("users");
  var heads = table.tHead.rows[0].cells;
  function sortBy(index, descending) {
    var numeric = heads[index].dataset.type === "num";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[index].textContent, y = b.cells[index].textContent;
      var c = numeric ? (parseFloat(x) || 0) - (parseFloat(y) || 0) : x.localeCompare(y);
      return descending ? -c : c;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
    heads[index].setAttribute("aria-sort", descending ? "descending" : "ascending");
  }
  Array.prototype.forEach.call(heads, function (th, index) {
    th.addEventListener("click", function () {
      sortBy(index, th.getAttribute("aria-sort") === "ascending");
    });
  });
  var wanted = /^#sort=(-?)([a-z_]+)$/.exec(window.location.hash);
  if (wanted) {
    for (var i = 0; i < heads.length; i++) {
      if (heads[i].dataset.key === wanted[2]) { sortBy(i, wanted[1] === "-"); }
    }
  }
  document.body.dataset.sortable = "ready";
})();
"""


def render(review: Review) -> str:
    period = review.period
    title = f"Access review {period.label}"
    span = (
        f"{period.days[0]} to {period.days[-1]} ({inert(period.timezone, 'html')}), "
        f"generated {review.generated.isoformat(timespec='seconds')}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{inert(title, 'html')}</title><style>{STYLE}</style></head><body>"
        f"<h1>{inert(title, 'html')}</h1><p class='muted'>{span}</p>"
        f"{_counts(review)}<h2>Charts</h2><div class='charts'>{_charts(review)}</div>"
        f"{_table(review)}<script>{SCRIPT}</script></body></html>\n"
    )


def _counts(review: Review) -> str:
    users = sum(review.users.values())
    cells = [
        ("", "db users", users),
        ("", "targets", len(review.targets)),
        ("", "IAM principals", sum(review.principals.values())),
        ("", "sessions", review.sessions),
        ("", "auth failures", review.auth_failures),
        *((rec, f"users to {rec}", review.users[rec]) for rec in ("revoke", "review", "keep")),
        ("revoke", "principals to revoke", review.principals["revoke"]),
    ]
    return (
        "<div class='counts'>"
        + "".join(
            f"<div class='count {cls}'><b>{value}</b>{inert(label, 'html')}</div>"
            for cls, label, value in cells
        )
        + "</div>"
    )


def _figure(caption: str, svg: str) -> str:
    return f"<figure><figcaption>{inert(caption, 'html')}</figcaption>{svg}</figure>"


def _charts(review: Review) -> str:
    days = [str(d) for d in review.period.days]
    totals = {t: sum(by_day.values()) for t, by_day in review.daily_sessions.items()}
    busiest = sorted(totals, key=lambda t: (-totals[t], t))
    series = [(t, [review.daily_sessions[t].get(d, 0) for d in days]) for t in busiest]
    if len(series) > TARGETS_SHOWN:
        rest = series[TARGETS_SHOWN - 1 :]
        other = [sum(values[i] for _, values in rest) for i in range(len(days))]
        series = [*series[: TARGETS_SHOWN - 1], (f"{len(rest)} other targets", other)]
    failures = [(d, review.daily_failures.get(d, 0)) for d in days]
    by_rec = [(rec, review.users[rec]) for rec in ("keep", "review", "revoke")]
    return "".join(
        (
            _figure(
                "Sessions per day per target", charts.stacked_columns("sessions", days, series)
            ),
            _figure("Auth failures per day", charts.columns("auth failures", failures, "#d62728")),
            _figure(
                f"Top {len(review.top_users())} users by sessions",
                charts.bars("top users", review.top_users()),
            ),
            _figure(
                "Users by recommendation",
                charts.bars("recommendations", by_rec, [COLORS[r] for r, _ in by_rec]),
            ),
        )
    )


def _cell(key: str, kind: str, value: object) -> str:
    # csv_cell gives booleans and times the CSV's spelling (a string would gain its quote).
    plain = value is None or isinstance(value, (bool, datetime))
    text = csv_cell(value) if plain else str(value)
    classes = "num" if kind == "num" else value if key == "recommendation" else ""
    attr = f" class='{classes}'" if classes else ""
    return f"<td{attr}>{inert(text, 'html')}</td>"


def _table(review: Review) -> str:
    rows = review.table_rows()
    shown = (
        f"all {len(rows)} db users"
        if len(rows) == review.table_total
        else f"the {len(rows)} most urgent of {review.table_total} db users; the users CSV "
        "has them all"
    )
    head = "".join(
        f"<th data-key='{key}' data-type='{kind}'>{inert(label, 'html')}</th>"
        for key, label, kind in TABLE_COLUMNS
    )
    body = "".join(
        "<tr>" + "".join(_cell(key, kind, row.get(key)) for key, _, kind in TABLE_COLUMNS) + "</tr>"
        for row in rows
    )
    return (
        f"<h2>Database users</h2><p class='muted'>Showing {shown}. Click a column to sort.</p>"
        f"<table id='users'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )
