"""`pn2v demo`, the README's first command, runs the whole flow and reports the gain."""

from pathlib import Path

from pn2v_engine.cli import main
from pn2v_engine.project import load_project


def test_demo_runs_end_to_end(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "demo"
    assert main(["demo", "--folder", str(folder), "--epochs", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line[:3] for line in lines if line[:1].isdigit()] == ["1/4", "2/4", "3/4", "4/4"]
    assert "mean gain +" in lines[-1]
    assert load_project(folder / "demo.pn2v").training.epochs_done == 1
    assert len(list((folder / "denoised").glob("*_pn2v.tif"))) == 4
