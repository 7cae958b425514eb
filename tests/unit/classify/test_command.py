"""The ``classify`` command contract, through the Typer runner."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from complaintdesk.classify.cli import classify_command, model_app

app = typer.Typer()
app.command()(classify_command)
runner = CliRunner()
LABELS = {"nature", "category", "urgency", "department"}


def run(data: bytes) -> list[dict[str, object]]:
    result = runner.invoke(app, [], input=data)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_empty_input_gives_empty_output() -> None:
    assert run(b"") == []


def test_one_line_out_per_line_in_in_order() -> None:
    lines = [
        {"id": i, "text": t} for i, t in enumerate(["电梯坏了", "Fire!", "物业费几号交?"] * 30)
    ]
    out = run("\n".join(json.dumps(x, ensure_ascii=False) for x in lines).encode())
    assert [o["id"] for o in out] == list(range(90))
    for o in out:
        assert set(o) >= LABELS and set(o["confidence"]) == LABELS  # type: ignore[arg-type]
        assert o["model_version"] and isinstance(o["needs_review"], bool)
    assert out[1]["category"] == "emergency" and out[1]["urgency"] == "critical"


def test_unreadable_lines_get_an_error_and_the_run_goes_on() -> None:
    data = b"\n".join(
        [
            b'{"id": "a", "text": ""}',
            b'{"id": "b", "text": 123}',
            b'{"id": "c"}',
            b"not json",
            b"[1, 2]",
            b"",
            b'{"id": "d", "text": "\xff\xfe bad bytes"}',
            b'{"id": "e", "text": "   "}',
            b'{"id": "f", "text": "the lift is broken"}',
        ]
    )
    out = run(data)
    assert [o.get("id") for o in out] == ["a", "b", "c", None, None, None, None, "e", "f"]
    assert all("error" in o for o in out[:8])
    assert out[8]["category"] == "equipment"


def test_a_huge_line_is_classified_on_its_beginning() -> None:
    text = "楼道里着火了!" + "很长的描述" * 1_000_000  # about 5 MB of text
    out = run(json.dumps({"id": 1, "text": text}, ensure_ascii=False).encode() + b"\n")
    assert out[0]["category"] == "emergency"


def test_eval_prints_the_scores(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "gold.jsonl"
    path.write_text(
        json.dumps(
            {
                "text": "有人被困在电梯里",
                "nature": "help_seeking",
                "category": "emergency",
                "urgency": "critical",
                "department": "engineering",
            },
            ensure_ascii=False,
        )
        + "\n"
    )
    result = runner.invoke(model_app, ["eval", str(path)])
    assert result.exit_code == 0
    assert "emergency recall    100.0%" in result.stdout
    assert "confusion matrix: department" in result.stdout
