"""The notebooks: each .ipynb agrees with its jupytext script, is stored without outputs, uses only
the public API and the bundled samples, and 06 runs under papermill with new parameters.

Executing every notebook is nbmake's job: ``python -m pytest --nbmake notebooks/``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import intel

jupytext = pytest.importorskip("jupytext")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ("01_load_and_validate", "02_hotspot_mapping", "03_space_time_patterns", "04_forecasting_and_backtests",
         "05_patrol_planning", "06_weekly_briefing")


def _cells(nb) -> list[tuple[str, str, list[str]]]:
    return [(c.cell_type, c.source.strip(), sorted(c.metadata.get("tags", []))) for c in nb.cells]


def _code(name: str) -> str:
    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def test_the_six_notebooks_are_there_in_pairs():
    found = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    assert found == sorted(NAMES)
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.py")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_script_and_notebook_agree(name):
    script = jupytext.read(NOTEBOOKS / f"{name}.py")
    notebook = jupytext.read(NOTEBOOKS / f"{name}.ipynb")
    assert _cells(script) == _cells(notebook), f"run `jupytext --sync notebooks/{name}.py`"
    assert notebook.metadata.get("jupytext", {}).get("formats") == "ipynb,py:percent"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_stored_without_outputs(name):
    raw = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))
    for cell in raw["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{name}: clear the outputs before committing"
            assert cell.get("execution_count") is None, name


@pytest.mark.parametrize("name", NAMES)
def test_notebook_uses_the_public_api_and_bundled_samples_only(name):
    code = _code(name)
    assert not re.search(r"^\s*(from intel\b|import intel\.)", code, flags=re.M), f"{name} imports a private module"
    used = set(re.findall(r"\bintel\.([A-Za-z_]\w*)", code))
    assert used, name
    assert used <= set(intel.__all__), f"{name} uses non-public names {sorted(used - set(intel.__all__))}"
    samples = set(re.findall(r"load_sample\(\"([^\"]+)\"\)", code))
    assert samples <= set(intel.list_samples())
    assert "shared/data" not in code and "/work/" not in code


def test_briefing_notebook_is_parameterised_for_papermill():
    nb = jupytext.read(NOTEBOOKS / "06_weekly_briefing.ipynb")
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    names = set(re.findall(r"^(\w+)\s*=", tagged[0].source, flags=re.M))
    assert names == {"week", "sample", "out_dir"}


@pytest.mark.slow
def test_briefing_notebook_runs_with_other_parameters(tmp_path):
    papermill = pytest.importorskip("papermill")
    out = tmp_path / "briefing"
    papermill.execute_notebook(
        str(NOTEBOOKS / "06_weekly_briefing.ipynb"), str(tmp_path / "executed.ipynb"),
        parameters={"week": "2018-W43", "out_dir": str(out)}, cwd=str(NOTEBOOKS), kernel_name="python3",
        progress_bar=False,
    )
    data = json.loads((out / "briefing.json").read_text(encoding="utf-8"))
    assert data["week"]["label"] == "2018-W43"
    assert (out / "briefing.html").is_file()
