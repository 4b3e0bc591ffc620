import json

import pytest
from django.core.management import CommandError, call_command


def test_simulate_replays_strategies_on_a_bundled_set_and_writes_curves(tmp_path, capsys):
    prefix = tmp_path / "wine"
    call_command(
        "simulate",
        "--dataset",
        "wine",
        "--strategies",
        "adaptive,random",
        "--budget",
        "20",
        "--batch-size",
        "5",
        "--seeds",
        "2",
        "--fast-classifier",
        "--out",
        str(prefix),
    )

    results = json.loads(prefix.with_suffix(".json").read_text())
    assert set(results["strategies"]) == {"adaptive", "random"}
    summary = results["strategies"]["adaptive"]["summary"]
    assert 0 < summary["aulc_mean"] <= 100
    assert prefix.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "adaptive" in capsys.readouterr().out


def test_simulate_on_a_table_needs_its_label_column(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("a,b,label\n1,2,x\n3,4,y\n")
    with pytest.raises(CommandError, match="label-column"):
        call_command("simulate", "--table", str(table), "--out", str(tmp_path / "out"))
