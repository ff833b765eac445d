"""Field types of the config, with validators that say what is wrong in one line, the
model config of every table (`SECTION`), and how a validation error is worded."""

from __future__ import annotations

import ipaddress
import json
import re
import urllib.parse
import zoneinfo
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from monitor.models import ORG_ID

_ACCOUNT_ID = re.compile(r"\d{12}")
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}")
_SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+")
_ENV_REF = re.compile(r"env:([A-Za-z_][A-Za-z0-9_]*)")
_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d")
_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9-]{1,63})*"
)
_S3_URI = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?")


def _account_id(value: object) -> object:
    if isinstance(value, int):
        # pydantic turns only ValueError into a validation error, so not TypeError here.
        raise ValueError(  # noqa: TRY004
            f"write account ids as quoted strings, or leading zeros are lost: {value}"
        )
    if isinstance(value, str) and not _ACCOUNT_ID.fullmatch(value):
        raise ValueError(f'not a 12-digit AWS account id: "{value}"')
    return value


def _role_arn(value: str) -> str:
    if not ROLE_ARN.fullmatch(value):
        raise ValueError(f'not an IAM role ARN: "{value}"')
    return value


def _secret_ref(value: str) -> str:
    if _ENV_REF.fullmatch(value) or _SECRET_ARN.fullmatch(value):
        return value
    # Never echo the value: it may be the very secret someone pasted in by mistake.
    raise ValueError(
        "not a secret reference: write env:VARIABLE_NAME or a Secrets Manager secret ARN, "
        "never the secret itself"
    )


def _region(value: str) -> str:
    if not _REGION.fullmatch(value):
        raise ValueError(f'not an AWS region: "{value}"')
    return value


def _hostname(value: str) -> str:
    if not _HOSTNAME.fullmatch(value):
        raise ValueError(f'not a host name: "{value}"')
    return value


def _ip_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f'not an IP address: "{value}"') from None
    return value


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f'unknown time zone: "{value}"') from None
    return value


def _hhmm(value: str) -> str:
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", value)
    if not match:
        raise ValueError(f'not a time of day as HH:MM: "{value}"')
    return value


def _org_id(value: str) -> str:
    if not ORG_ID.fullmatch(value):
        raise ValueError(f'not an AWS organisation id (o-...): "{value}"')
    return value


def _s3_uri(value: str) -> str:
    if not _S3_URI.fullmatch(value):
        raise ValueError(f'not an S3 URI (s3://bucket/prefix): "{value}"')
    return value


def check_endpoint_url(value: str) -> str:
    """https://, or http:// to a loopback address only (a local moto or Slack stand-in).

    Plain http elsewhere would carry Slack tokens and AWS-signed requests in clear text.
    """
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme == "https" and parsed.hostname:
        return value
    if parsed.scheme == "http" and parsed.hostname and _loopback(parsed.hostname):
        return value
    raise ValueError(
        f'not an https:// URL: "{value}" (http:// is allowed only to 127.0.0.1, ::1 or localhost)'
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


AccountId = Annotated[str, BeforeValidator(_account_id)]
RoleArn = Annotated[str, AfterValidator(_role_arn)]
SecretRef = Annotated[str, AfterValidator(_secret_ref)]
# The fields typed SecretRef (tests/unit/test_config.py holds this list to them).
SECRET_FIELDS = frozenset({"token", "webhook_url", "external_id"})
Region = Annotated[str, AfterValidator(_region)]
Hostname = Annotated[str, AfterValidator(_hostname)]
IpAddress = Annotated[str, AfterValidator(_ip_address)]
TimeZone = Annotated[str, AfterValidator(_timezone)]
TimeOfDay = Annotated[str, AfterValidator(_hhmm)]
S3Uri = Annotated[str, AfterValidator(_s3_uri)]
EndpointUrl = Annotated[str, AfterValidator(check_endpoint_url)]
OrgId = Annotated[str, AfterValidator(_org_id)]
Port = Annotated[int, Field(ge=1, le=65535)]
Severity = Literal["critical", "high", "medium", "low", "info"]


# Every table of the file: unknown keys are errors, and a loaded config never changes.
SECTION = ConfigDict(extra="forbid", frozen=True)


def dotted(loc: Iterable[int | str]) -> str:
    """('accounts', 1, 'role_arn') -> 'accounts[1].role_arn'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def describe(exc: ValidationError, prefix: tuple[int | str, ...] = ()) -> list[str]:
    """Each of pydantic's errors as one line with its dotted path; a secret never shown."""
    lines = []
    for error in exc.errors(include_url=False):
        loc = prefix + tuple(error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            message = "unknown key"
        elif kind == "missing":
            message = "required"
        elif kind == "value_error":
            message = str(error["ctx"]["error"])
        elif SECRET_FIELDS.intersection(str(part) for part in loc):
            # A secret field's input may be the secret itself, pasted in: never echo it.
            message = f"{error['msg']} (value not shown: write env:NAME or a secret ARN)"
        else:
            shown = json.dumps(error["input"], default=str)
            message = f"{error['msg']} (got {shown[:80]})"
        lines.append(f"{dotted(loc)}: {message}")
    return lines
