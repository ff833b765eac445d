"""Fixtures shared by the integration tests of one feature (the session's real parts are in
tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MotoServer, SlackApi
from tests.support.doctor import healthy
from tests.support.iam_pam import IamPg


@pytest.fixture
def doctor_setup(
    tmp_path: Path,
    moto_server: MotoServer,
    iam_pg: IamPg,
    slack_api: SlackApi,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    """The raw config of a setup that passes every `pgwarden doctor` check."""
    return healthy(tmp_path, moto_server, iam_pg, slack_api, monkeypatch)
