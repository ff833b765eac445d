from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import find_config, load_config, validate
from monitor.config.fields import dotted
from monitor.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

GOOD = {
    "accounts": [
        {
            "id": "222222222222",
            "name": "prod",
            "role_arn": "arn:aws:iam::222222222222:role/pg-monitor-role",
        }
    ],
    "targets": [
        {
            "name": "t1",
            "account": "prod",
            "cluster_id": "c1",
            "endpoint": "c1.cluster-abc.us-east-1.rds.amazonaws.com",
        }
    ],
}


def problems_of(raw: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate(raw)
    return info.value.problems


def test_config_example_is_valid() -> None:
    config = load_config(REPO / "config.example.toml")
    assert [a.name for a in config.accounts] == ["prod-data", "analytics"]
    assert config.store.path == REPO / "pgwarden.db"
    assert config.activity.capture_query_text == "none"
    assert all(not t.insecure_tls for t in config.targets)


def test_config_defaults_fill_every_section() -> None:
    config = validate(GOOD)
    assert config.activity.interval_s == 10
    assert config.pglogs.log_line_prefix == "%t:%r:%u@%d:[%p]:"
    assert config.targets[0].port == 5432
    assert config.targets[0].db_user == "pgmonitor"
    assert config.metrics.enabled is False
    assert config.account("prod").id == "222222222222"
    assert config.account("222222222222").name == "prod"


def test_config_three_mistakes_all_reported() -> None:
    raw = {
        "accounts": [
            {"id": "222222222222", "name": "a", "role_arn": "arn:aws:iam::222222222222:role/r"},
            {"id": "2222", "name": "b", "role_arn": "arn:aws:iam::12:role"},
        ],
        "activity": {"interval_s": "often"},
        "metrics": {"colour": "red"},
    }
    problems = problems_of(raw)
    assert 'accounts[1].role_arn: not an IAM role ARN: "arn:aws:iam::12:role"' in problems
    assert 'accounts[1].id: not a 12-digit AWS account id: "2222"' in problems
    assert any(p.startswith("activity.interval_s: ") for p in problems)
    assert "metrics.colour: unknown key" in problems
    assert len(problems) == 4


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        (
            {"accounts": [{"id": 222222222222, "name": "x"}]},
            "accounts[0].id: write account ids as quoted",
        ),
        ({"accounts": [{"name": "x"}]}, "accounts[0].id: required"),
        ({"aws": {"region": "mars-1"}}, 'aws.region: not an AWS region: "mars-1"'),
        (
            {"alerts": {"slack": {"token": "xoxb-1-2"}}},
            "alerts.slack.token: not a secret reference",
        ),
        (
            {"accounts": [{"id": "222222222222", "name": "x", "external_id": "hunter2"}]},
            "accounts[0].external_id: not a secret reference",
        ),
        (
            {"reports": {"timezone": "Mars/Olympus"}},
            'reports.timezone: unknown time zone: "Mars/Olympus"',
        ),
        ({"reports": {"time": "25:00"}}, 'reports.time: not a time of day as HH:MM: "25:00"'),
        (
            {"activity": {"capture_query_text": "all"}},
            "activity.capture_query_text: Input should be",
        ),
        ({"detectors": {"unsued-user": {}}}, "detectors.unsued-user: unknown detector; known:"),
        (
            {"cloudtrail": {"engine": "athena"}},
            "cloudtrail.output_location: required when engine is athena",
        ),
        (
            {"aws": {"principal_org_id": "org-1"}},
            'aws.principal_org_id: not an AWS organisation id (o-...): "org-1"',
        ),
        (
            {
                "aws": {
                    "management_accounts": ["111111111111"],
                    "runner_role_arn": "arn:aws:iam::999999999999:role/pgwarden",
                }
            },
            "aws.runner_role_arn: role is in account 999999999999, which "
            "aws.management_accounts does not list",
        ),
    ],
)
def test_config_bad_values_named_by_path(patch: dict[str, object], expected: str) -> None:
    problems = problems_of(patch)
    assert any(p.startswith(expected) for p in problems), problems


def test_config_secret_value_never_echoed() -> None:
    problems = problems_of({"alerts": {"slack": {"token": "xoxb-very-secret"}}})
    assert not any("very-secret" in p for p in problems)


def test_config_cross_checks() -> None:
    raw = {
        "accounts": [
            {"id": "222222222222", "name": "a", "role_arn": "arn:aws:iam::333333333333:role/r"},
            {
                "id": "222222222222",
                "name": "a",
                "profile": "p",
                "role_arn": "arn:aws:iam::222222222222:role/r",
            },
        ],
        "targets": [
            {"name": "t", "account": "a", "endpoint": "h.example.com", "cluster_id": "c"},
            {"name": "t", "account": "nobody", "endpoint": "h.example.com"},
            {
                "name": "p",
                "account": "a",
                "endpoint": "h.example.com",
                "cluster_id": "c",
                "endpoint_type": "proxy",
            },
        ],
    }
    problems = problems_of(raw)
    assert (
        "accounts[0].role_arn: role is in account 333333333333, but the account id is 222222222222"
        in problems
    )
    assert "accounts[1]: set role_arn or profile, not both" in problems
    assert 'accounts[1].id: duplicate "222222222222" (also accounts[0])' in problems
    assert 'targets[1].name: duplicate "t" (also targets[0])' in problems
    assert 'targets[1].account: no [[accounts]] entry has id or name "nobody"' in problems
    assert "targets[1]: set exactly one of cluster_id, instance_id or proxy_name" in problems
    assert "targets[2].proxy_name: required when endpoint_type is proxy" in problems


def test_config_toml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[store]\npath = "x.db"\n[aws\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (line,) = info.value.problems
    assert "line 3, column" in line
    assert str(path) in line


def test_config_relative_paths_follow_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "c.toml"
    path.parent.mkdir()
    path.write_text('[store]\npath = "state/p.db"\n[reports]\ndir = "out"\n')
    config = load_config(path)
    assert config.store.path == path.parent / "state" / "p.db"
    assert config.reports.dir == path.parent / "out"


def test_config_pglogs_files_relative_paths_follow_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[[accounts]]\nid = "222222222222"\nname = "prod"\ndiscover = true\n'
        '[pglogs]\nsources = ["files", "athena"]\n[pglogs.athena]\nlocal_dir = "copy"\n'
        '[[pglogs.files]]\ntarget = "prod/us-east-1/orders"\npaths = ["logs", "/abs"]\n'
    )
    config = load_config(path)
    (entry,) = config.pglogs.files
    # A discovered target's name is known only at run time: accepted when an account discovers.
    assert (entry.target, entry.paths) == (
        "prod/us-east-1/orders",
        [tmp_path / "logs", Path("/abs")],
    )
    assert config.pglogs.athena.local_dir == tmp_path / "copy"


def test_config_pglogs_old_shapes_are_refused_with_how_to_write_them() -> None:
    raw = {
        **GOOD,
        "pglogs": {
            "sources": ["files"],
            "files": ["/var/log/postgresql", "/var/log/pg2"],
            "athena_local_dir": "copy",
        },
    }
    assert problems_of(raw) == [
        "pglogs.files: a flat list no longer says whose logs they are; write one "
        '[[pglogs.files]] table per target: target = "NAME", paths = ["..."]',
        "pglogs.athena_local_dir: moved; write local_dir = ... under [pglogs.athena]",
    ]


def test_config_pglogs_files_and_athena_checked_against_what_they_need() -> None:
    raw = {
        **GOOD,
        "pglogs": {
            "sources": ["files", "athena"],
            "files": [{"target": "t1", "paths": ["a"]}, {"target": "t9", "paths": ["b"]}],
            "athena": {"engine": "athena"},
        },
    }
    assert problems_of(raw) == [
        'pglogs.files[1].target: no [[targets]] entry is named "t9" and no account has '
        "discover = true",
        "pglogs.athena.output_location: required when engine is athena",
        "pglogs.athena.logs_location: required when engine is athena",
    ]
    raw["pglogs"] = {"sources": ["athena"]}
    assert problems_of(raw) == [
        "pglogs.athena.local_dir: required when the athena source runs locally "
        '(or set engine = "athena")'
    ]
    raw["pglogs"] = {"files": [{"target": "t1", "paths": []}]}
    assert problems_of(raw) == [
        "pglogs.files[0].paths: List should have at least 1 item after validation, not 0 (got [])"
    ]


def test_config_found_by_flag_then_env_then_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag, env, local = (tmp_path / n for n in ("flag.toml", "env.toml", "pgwarden.toml"))
    for p in (flag, env, local):
        p.write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PGWARDEN_CONFIG", str(env))
    assert find_config(flag) == flag
    assert find_config(None) == env
    monkeypatch.delenv("PGWARDEN_CONFIG")
    assert find_config(None).resolve() == local
    local.unlink()
    with pytest.raises(ConfigError, match="config file not found"):
        find_config(None)


def test_config_dotted_paths() -> None:
    assert dotted(("accounts", 1, "role_arn")) == "accounts[1].role_arn"
    assert dotted(("detectors", "new-source", "days")) == "detectors.new-source.days"
    assert dotted(()) == "(top level)"


@pytest.mark.parametrize("value", [["xoxb-123-SECRET"], 1234567890, {"k": "xoxb-SECRET"}])
@pytest.mark.parametrize("field", ["token", "webhook_url"])
def test_config_secret_of_the_wrong_type_never_echoed(field: str, value: object) -> None:
    found = problems_of({**GOOD, "alerts": {"slack": {field: value}}})
    line = next(p for p in found if p.startswith(f"alerts.slack.{field}"))
    assert "SECRET" not in line and "1234567890" not in line, line
    assert "value not shown" in line


def test_config_secret_fields_are_the_secret_refs() -> None:
    import typing

    from monitor.config import Config
    from monitor.config.fields import SECRET_FIELDS, SecretRef

    def walk(model: type) -> set[str]:
        found = set()
        for name, info in model.model_fields.items():  # type: ignore[attr-defined]
            hint = info.annotation
            if SecretRef in typing.get_args(hint) or hint == SecretRef:
                found.add(name)
            for arg in (hint, *typing.get_args(hint)):
                if isinstance(arg, type) and hasattr(arg, "model_fields"):
                    found |= walk(arg)
        return found

    assert walk(Config) == set(SECRET_FIELDS)


@pytest.mark.parametrize(
    ("section", "key", "value", "ok"),
    [
        ("aws", "endpoint_url", "https://sts.example.com", True),
        ("aws", "endpoint_url", "http://127.0.0.1:5000", True),
        ("aws", "endpoint_url", "http://[::1]:5000", True),
        ("aws", "endpoint_url", "http://localhost:5000", True),
        ("aws", "endpoint_url", "http://moto.internal:5000", False),
        ("aws", "endpoint_url", "http://10.0.0.5", False),
        ("slack", "base_url", "http://127.0.0.1:8080/api/", True),
        ("slack", "base_url", "http://slack.example.com/api/", False),
        ("slack", "base_url", "ftp://127.0.0.1/", False),
    ],
)
def test_config_http_endpoints_only_to_loopback(
    section: str, key: str, value: str, ok: bool
) -> None:
    raw = (
        {**GOOD, "aws": {key: value}}
        if section == "aws"
        else {**GOOD, "alerts": {"slack": {key: value}}}
    )
    if ok:
        validate(raw)
    else:
        (line,) = [p for p in problems_of(raw) if key in p]
        assert "not an https:// URL" in line


def test_config_poll_deadline_shorter_than_interval() -> None:
    found = problems_of({**GOOD, "activity": {"interval_s": 5}})
    assert "activity.poll_deadline_s: 8 must be shorter than interval_s (5)" in found
    validate({**GOOD, "activity": {"interval_s": 5, "poll_deadline_s": 4}})


def test_config_webhook_url_over_http_refused_without_echo() -> None:
    from monitor.config import SlackConfig
    from monitor.outputs.alerts.sinks import make_sink

    slack = SlackConfig(enabled=True, mode="webhook", webhook_url="env:HOOK")
    secret = "http://hooks.example.com/services/T0/B0/SECRET"
    with pytest.raises(ConfigError) as info:
        make_sink(slack, lambda ref: secret)
    assert "holds no https:// URL" in str(info.value) and "SECRET" not in str(info.value)
    assert make_sink(slack, lambda ref: "https://hooks.slack.com/services/T0/B0/x")


def test_config_discovery_interval_defaults_to_five_minutes_and_must_be_positive() -> None:
    assert validate(GOOD).scheduler.discovery_interval_s == 300
    for bad in (0, -5, "often"):
        found = problems_of({**GOOD, "scheduler": {"discovery_interval_s": bad}})
        assert len(found) == 1 and found[0].startswith("scheduler.discovery_interval_s: "), found
    assert (
        validate(
            {**GOOD, "scheduler": {"discovery_interval_s": 0.5}}
        ).scheduler.discovery_interval_s
        == 0.5
    )
