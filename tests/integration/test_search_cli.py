"""``complaintdesk search``: the same search as the API, from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from complaintdesk.cli import app
from tests.integration.test_import_demo_cli import cli_db

__all__ = ["cli_db"]


def test_search_prints_matches_newest_first_within_scope(cli_db: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["demo", "--complaints", "60", "--owners", "5"]).exit_code == 0
    result = runner.invoke(
        app, ["search", "电梯", "--as", "admin", "--company", "demo", "--newest", "--limit", "5"]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines and all("电梯" in line["text"] for line in lines)
    assert [line["id"] for line in lines] == sorted((line["id"] for line in lines), key=int)[::-1]
    assert "searched since" in result.stderr
    # Nothing to search for, and an unknown project, are refused.
    assert runner.invoke(app, ["search", "!!", "--as", "admin", "--company", "demo"]).exit_code == 2
    bad = runner.invoke(
        app, ["search", "电梯", "--as", "admin", "--company", "demo", "--project", "XX"]
    )
    assert bad.exit_code == 2
