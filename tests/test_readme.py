"""The README's two fresh-machine commands are a promise: keep them true and in step with CI."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    head = text.split("\n## ")[0]
    return re.findall(r"```bash\n(.+?)\n```", head, flags=re.S)


def test_readme_opens_with_two_commands():
    commands = _readme_commands()
    assert len(commands) == 2, commands
    main_job, tests = commands
    assert "pip install" in main_job and "intel " in main_job
    assert "pytest" in tests and '".[test]"' in tests


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    test_command = _readme_commands()[1].strip()
    assert test_command in ci, "the README's test command and .ci/run have drifted apart"


def test_readme_main_job_uses_a_bundled_sample():
    main_job = _readme_commands()[0]
    paths = re.findall(r"data/samples/\S+", main_job)
    assert paths, "the main job should run on bundled sample data"
    for p in paths:
        assert (REPO / p).exists(), f"{p} named in the README does not exist"


def test_readme_tour_runs(tmp_path, monkeypatch):
    """The Python snippets of the tour run, in order, on the bundled sample."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.+?)\n```", text, flags=re.S)
    assert len(blocks) >= 5
    (tmp_path / "data").symlink_to(REPO / "data")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["result"].report["n_read"] == namespace["result"].report["n_kept"] + namespace["result"].report["n_quarantined"]
    assert "hotspot_class" in namespace["hot"].columns
    assert (tmp_path / "hotspots.html").exists()
    assert len(namespace["plan"]) > 0
