"""Recorded benchmark outputs: written atomically beside the results, shown best profile first."""

from __future__ import annotations

from toonlab.recorded import record, recorded_summary


def command(profile: str) -> str:
    return f"python benchmarks/x.py --record {profile}"


def test_the_best_recorded_output_is_shown_with_its_command_and_a_missing_one_says_how(tmp_path, monkeypatch):
    monkeypatch.setenv("TOONLAB_ROOT", str(tmp_path))
    assert recorded_summary("03_gan", "bench.txt", command, "ci") == (
        "The benchmark has not been recorded for any profile yet: run `python benchmarks/x.py --record cpu` "
        "(it writes `results/<profile>/03_gan/bench.txt`).")
    path = record("ci run\n\n", "ci", "03_gan", "bench.txt")
    assert path == tmp_path / "results" / "ci" / "03_gan" / "bench.txt" and path.read_text() == "ci run\n"
    assert "`python benchmarks/x.py --record ci`" in recorded_summary("03_gan", "bench.txt", command, "ci")
    record("cpu run", "cpu", "03_gan", "bench.txt")  # a reference profile beats the live one
    shown = recorded_summary("03_gan", "bench.txt", command, "ci")
    assert shown.startswith("Recorded output of `python benchmarks/x.py --record cpu` (`results/cpu/03_gan/bench.txt`)")
    assert shown.endswith("```text\ncpu run\n```")
    assert not list(path.parent.glob(".*"))  # no temporary file left behind
