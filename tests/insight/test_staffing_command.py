"""`nextorder staffing required`, run as a planner runs it: the console script in a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

NEXTORDER = Path(sys.executable).parent / "nextorder"
PUBLISHED = [
    "--calls", "100", "--interval-seconds", "1800", "--handle-seconds", "180",
    "--target-level", "0.8", "--answer-within", "20",
]  # fmt: skip


def staffing(*arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "nextorder.settings"}
    return subprocess.run(
        [str(NEXTORDER), "staffing", "required", *arguments],
        capture_output=True,
        text=True,
        env=environment,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
        timeout=120,
    )


def test_json_gives_the_published_example_with_shrinkage():
    completed = staffing(*PUBLISHED, "--shrinkage", "0.3", "--json")
    assert completed.returncode == 0, completed.stderr
    figures = json.loads(completed.stdout)
    assert set(figures) == {
        "agents",
        "agents_rostered",
        "service_level",
        "waiting_probability",
        "asa_seconds",
        "occupancy",
    }
    assert figures["agents"] == 14
    assert figures["agents_rostered"] == 20
    assert figures["service_level"] == pytest.approx(0.8884, abs=5e-5)
    assert figures["waiting_probability"] == pytest.approx(0.1741, abs=5e-5)
    assert figures["occupancy"] == pytest.approx(0.714, abs=5e-4)


def required(*arguments: str) -> dict:
    """The same command in this process, for the cases that need no process of their own."""
    out = StringIO()
    call_command("staffing", "required", *arguments, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_patience_gives_erlang_a_with_abandonment():
    figures = required(*PUBLISHED, "--patience-seconds", "60")
    assert "agents_rostered" not in figures
    assert 0 < figures["abandon_probability"] < 1
    assert figures["service_level"] >= 0.8
    assert figures["agents"] != 14  # callers who hang up change the answer


def test_text_names_the_model_and_the_figures():
    out = StringIO()
    call_command("staffing", "required", *PUBLISHED, "--shrinkage", "0.3", stdout=out)
    assert "agents needed (Erlang C): 14" in out.getvalue()
    assert "after 30% shrinkage: 20" in out.getvalue()
    assert "service level: 88.84%" in out.getvalue()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--calls", "nan", *PUBLISHED[2:]], "calls must be finite"),
        (["--calls", "abc", *PUBLISHED[2:]], "invalid float value"),
    ],
)
def test_bad_arguments_exit_2_with_a_message_and_no_traceback(arguments, message):
    completed = staffing(*arguments)
    assert completed.returncode == 2
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([*PUBLISHED[:-4], "--target-level", "1.2", "--answer-within", "20"], "target_level"),
        ([*PUBLISHED, "--shrinkage", "1"], "shrinkage"),
        ([*PUBLISHED, "--patience-seconds", "-3"], "patience_seconds"),
        ([*PUBLISHED[:-2], "--answer-within", "inf"], "answer_within must be finite"),
        (["--calls", "100"], "needs --interval-seconds"),
    ],
)
def test_refused_arguments_are_usage_errors(arguments, message):
    with pytest.raises(CommandError, match=message) as refused:
        call_command("staffing", "required", *arguments, stdout=StringIO())
    assert refused.value.returncode == 2
