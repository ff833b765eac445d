"""A PAM module (for libpam-python) that checks RDS IAM auth tokens as RDS does.

It runs inside the PostgreSQL backend as the `postgres` user under the system Python, so it
uses the standard library only. Its one argument is a JSON config file:

    {"endpoints": ["demo.cluster-abc123.us-east-1.rds.amazonaws.com:5432"],
     "region": "us-east-1", "keystore_url": "http://127.0.0.1:PORT/key",
     "decisions": "/path/decisions.jsonl", "max_skew_s": 30}

The token is the password: `HOST:PORT/?Action=connect&DBUser=U&X-Amz-...&X-Amz-Signature=S`.
The secret behind its access key comes from the sandbox's keystore (moto's STS store). Every
decision is appended to `decisions` with its reason, so tests can tell *why* one was denied.
Denials return PAM_PERM_DENIED, which makes PostgreSQL log "Permission denied" as RDS does.
"""

import calendar
import hashlib
import hmac
import json
import time
import urllib.parse
import urllib.request
from typing import Protocol, TypedDict

MAX_EXPIRES_S = 900
# botocore signs the token's (empty) GET body rather than writing UNSIGNED-PAYLOAD.
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class Denied(Exception):
    pass


class VerifierConfig(TypedDict, total=False):
    """The module's JSON config file (see above); `max_skew_s` may be left out."""

    endpoints: list[str]
    region: str
    keystore_url: str
    decisions: str
    max_skew_s: int


class KeyRecord(TypedDict):
    """What the keystore says about an access key."""

    secret: str
    session_token: str | None


class PamResponse(Protocol):
    resp: str | None


class PamHandle(Protocol):
    """What this module uses of libpam-python's handle."""

    user: str
    PAM_PROMPT_ECHO_OFF: int
    PAM_PERM_DENIED: int
    PAM_SUCCESS: int

    def Message(self, style: int, text: str) -> object: ...

    def conversation(self, message: object) -> PamResponse: ...


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="-_.~")


def _lookup(config: VerifierConfig, access_key_id: str) -> KeyRecord:
    url = config["keystore_url"] + "?id=" + _quote(access_key_id)
    try:
        # The keystore URL comes from the sandbox's own config file: always http://127.0.0.1.
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
            found: KeyRecord = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise Denied("unknown access key") from None
        raise
    return found


def verify(token: str, user: str, config: VerifierConfig, now: float) -> None:
    """Return None when `token` lets `user` in; raise Denied(reason) otherwise."""
    host, sep, query = token.partition("/?")
    if not sep:
        raise Denied("not a token")
    if host not in config["endpoints"]:
        raise Denied("token signed for another endpoint: " + host)
    params = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    values = dict(params)
    if len(values) != len(params):
        raise Denied("repeated query parameter")
    if values.get("Action") != "connect":
        raise Denied("Action is not connect")
    if values.get("DBUser") != user:
        raise Denied("token is for another database user")
    if values.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
        raise Denied("unsupported algorithm")
    if values.get("X-Amz-SignedHeaders") != "host":
        raise Denied("unexpected signed headers")
    try:
        akid, date, region, service, terminal = values["X-Amz-Credential"].split("/")
        amz_date = values["X-Amz-Date"]
        expires = int(values["X-Amz-Expires"])
        signature = values["X-Amz-Signature"]
    except (KeyError, ValueError):
        raise Denied("malformed credential scope") from None
    if service != "rds-db" or terminal != "aws4_request" or region != config["region"]:
        raise Denied("wrong credential scope")
    if not amz_date.startswith(date) or expires > MAX_EXPIRES_S or expires <= 0:
        raise Denied("bad date or expiry")
    signed_at = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
    skew = config.get("max_skew_s", 30)
    if now > signed_at + expires + skew:
        raise Denied("token expired")
    if now < signed_at - skew:
        raise Denied("token from the future")
    key = _lookup(config, akid)
    if key.get("session_token") != values.get("X-Amz-Security-Token"):
        raise Denied("security token does not match the access key")
    canonical_query = "&".join(
        sorted(_quote(k) + "=" + _quote(v) for k, v in params if k != "X-Amz-Signature")
    )
    canonical_request = "\n".join(
        ["GET", "/", canonical_query, "host:" + host, "", "host", EMPTY_SHA256]
    )
    scope = "/".join([date, region, service, terminal])
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )
    signing_key = _hmac(("AWS4" + key["secret"]).encode("utf-8"), date)
    for part in (region, service, terminal):
        signing_key = _hmac(signing_key, part)
    expected = hmac.new(signing_key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise Denied("signature does not match")


def _record(config: VerifierConfig, user: str, reason: str | None, token: str = "") -> None:
    # The endpoint the token was signed for (never the signature): tests check it is exact.
    host = token.partition("/?")[0] if "/?" in token else None
    entry = {
        "time": time.time(),
        "user": user,
        "ok": reason is None,
        "reason": reason,
        "host": host,
    }
    with open(config["decisions"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")


def pam_sm_authenticate(pamh: PamHandle, flags: int, argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as fh:
        config: VerifierConfig = json.load(fh)
    user = pamh.user
    token = ""
    try:
        response = pamh.conversation(pamh.Message(pamh.PAM_PROMPT_ECHO_OFF, "Password: "))
        token = response.resp or ""
        verify(token, user, config, time.time())
    except Denied as exc:
        _record(config, user, str(exc), token)
        return int(pamh.PAM_PERM_DENIED)
    except Exception as exc:  # noqa: BLE001 - a broken verifier must deny, never let someone in
        _record(config, user, "verifier error: " + type(exc).__name__ + ": " + str(exc), token)
        return int(pamh.PAM_PERM_DENIED)
    _record(config, user, None, token)
    return int(pamh.PAM_SUCCESS)


def pam_sm_setcred(pamh: PamHandle, flags: int, argv: list[str]) -> int:
    return int(pamh.PAM_SUCCESS)


def pam_sm_acct_mgmt(pamh: PamHandle, flags: int, argv: list[str]) -> int:
    return int(pamh.PAM_SUCCESS)
