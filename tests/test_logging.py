from __future__ import annotations

import logging

import pytest

from supervisor._logging import configure_logging, redact


def test_redact_removes_worker_tokens_and_bearer_values() -> None:
    token = "kwa_" + "A1b2C3d4" * 5
    assert token not in redact(f"failed with {token}")
    assert "secretvalue123" not in redact("Authorization: Bearer secretvalue123")
    bot = "123456789:" + "AAbbCC_dd-" * 4  # a Telegram bot token, in a Bot API URL
    assert bot not in redact(f"POST https://api.telegram.org/bot{bot}/sendMessage")
    assert redact("at 12:30:45, run 20261204:abc") == "at 12:30:45, run 20261204:abc"


def test_configured_logging_never_prints_a_token(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="INFO", fmt="json")
    token = "kwa_" + "Z9y8X7w6" * 5
    logging.getLogger("t").info("token was %s", token, extra={"strategy": "s1", "run_id": "r1"})
    err = capsys.readouterr().err
    assert token not in err
    assert '"strategy": "s1"' in err and '"run_id": "r1"' in err
