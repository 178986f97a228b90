"""The notebooks run outside this repository, and Binder's requirements are complete.

Each test starts from a fresh virtual environment of the machine's Python with nothing but
pip (the packages come from the package index, or pip's cache):

* a sample of notebooks that together import every module any notebook imports (and each kind
  of page: sympy, slider figures, a page reading a file of the repository) run top to bottom
  under ``jupyter execute`` from a folder outside the repository, as a reader's downloaded
  copy does. Their install cell installs ``lossfns`` from a wheel built from this checkout
  (``LOSSFNS_SOURCE``) and the rest at the pinned versions; one environment serves them all;
* ``binder/requirements.txt`` installs, and every module the notebooks import imports. Under
  `make test` that install (``tools/run_anywhere.py --install-binder``) runs beside the
  set-up, and the test checks the environment it made (``LOSSBOOK_TEST_BINDER``).

Both are slow (about a minute each with a warm pip cache); they print their timings.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "_ext"))
import publishing  # noqa: E402
import run_anywhere  # noqa: E402

SAMPLE_SIZE = 3
TIMEOUT_S = run_anywhere.FRESH_TIMEOUT_S
NOTEBOOKS = run_anywhere.notebooks()
BINDER_VARIABLE = "LOSSBOOK_TEST_BINDER"
FORK = "https://github.com/someone/lossbook-fork"


def notebook_id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# --- the install cells ----------------------------------------------------------------------


def test_install_cells_and_binder_requirements_are_up_to_date(capsys):
    """Every notebook's install cell and binder/requirements.txt are what `make cells` writes."""
    status = run_anywhere.main(["--check"])
    assert status == 0, f"run `make cells` and commit what it writes:\n{capsys.readouterr().out}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_install_cell_comes_first_and_is_hidden(path):
    cells = json.loads(path.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code and code[0].get("id") == run_anywhere.CELL_ID, "the install cell is not the first code cell"
    assert "remove-cell" in code[0]["metadata"].get("tags", [])
    assert sum(c.get("id") == run_anywhere.CELL_ID for c in cells) == 1
    assert len("".join(code[0]["source"]).splitlines()) <= 25, "the install cell should stay short"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_install_cell_does_nothing_in_the_books_environment(path, monkeypatch):
    """Here (make lab, the build, nbval) everything imports: no pip, no download."""
    cell = next(c for c in json.loads(path.read_text())["cells"] if c.get("id") == run_anywhere.CELL_ID)
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    import urllib.request

    monkeypatch.setattr(urllib.request, "urlretrieve", lambda *a, **k: calls.append(a))
    monkeypatch.chdir(path.parent)  # where the build and nbval run it
    monkeypatch.delenv("LOSSFNS_SOURCE", raising=False)
    exec(compile("".join(cell["source"]), str(path), "exec"), {})
    assert not calls


def test_install_cell_without_an_address_asks_for_a_source():
    """With no repository address, the cell needs LOSSFNS_SOURCE and says so when it is missing."""
    path = ROOT / "chapters" / "regression" / "mle.ipynb"
    source = run_anywhere.install_cell(path, json.loads(path.read_text()))
    assert "LOSSFNS_SOURCE" in source
    if publishing.repository(ROOT)[0] is None:
        assert 'assert all(missing), "set LOSSFNS_SOURCE' in source


def test_install_cell_follows_the_address(monkeypatch):
    monkeypatch.setenv("LOSSBOOK_REPO", FORK)
    path = ROOT / "appendix" / "benchmarks.ipynb"
    source = run_anywhere.install_cell(path, json.loads(path.read_text()))
    assert f'"lossfns @ git+{FORK}@main"' in source
    assert '"https://raw.githubusercontent.com/someone/lossbook-fork/main"' in source



# --- in a fresh environment -----------------------------------------------------------------



def run(command: list, env: dict[str, str], cwd: Path | None = None) -> str:
    result = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} exited {result.returncode}:\n"
        f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result.stdout


def kinds(path: Path) -> set[str]:
    """What a notebook needs from outside: its third-party imports and repository files."""
    notebook = json.loads(path.read_text())
    needs = set(run_anywhere.third_party(run_anywhere.imports(notebook)))
    if run_anywhere.data_files(notebook):
        needs.add("a file of the repository")
    return needs


def sample() -> list[Path]:
    """The fewest small notebooks that need, together, all that any notebook needs (at least 3)."""
    needs = {path: kinds(path) for path in run_anywhere.notebooks()}
    size = {path: path.stat().st_size for path in needs}
    uncovered, chosen = set().union(*needs.values()), []
    while uncovered:
        best = max(needs, key=lambda p: (len(needs[p] & uncovered), -size[p]))
        chosen.append(best)
        uncovered -= needs[best]
    for path in sorted(needs, key=size.get):
        if len(chosen) >= SAMPLE_SIZE:
            break
        if path not in chosen:
            chosen.append(path)
    return chosen


def test_sample_covers_every_kind_of_notebook():
    chosen = sample()
    assert len(chosen) >= SAMPLE_SIZE
    everything = set().union(*(kinds(p) for p in run_anywhere.notebooks()))
    assert set().union(*(kinds(p) for p in chosen)) == everything
    assert {"lossfns", "myst_nb", "sympy", "ipywidgets"} <= everything


def test_downloaded_notebooks_run_in_a_fresh_environment(tmp_path, lossfns_wheel):
    """Only pip and a kernel: the install cell brings lossfns (from the wheel) and the rest."""
    start = time.monotonic()
    python, env = run_anywhere.fresh_venv(tmp_path / "venv")
    pins = run_anywhere.locked()
    # what Colab, Binder or a local Jupyter already has: a kernel, and nbclient to drive it
    run([python, "-m", "pip", "install", "-q", pins["nbclient"], pins["ipykernel"]], env)
    downloads = tmp_path / "Downloads"  # outside the repository
    downloads.mkdir()
    missing = subprocess.run([python, "-c", "import lossfns"], env=env, cwd=downloads, capture_output=True)
    assert missing.returncode, "the fresh environment already has lossfns"
    env["LOSSFNS_SOURCE"] = str(lossfns_wheel)
    env["LOSSBOOK_FILES"] = ROOT.as_uri()  # the repository's files, for pages that read one
    setup = time.monotonic() - start
    timings = []
    for path in sample():
        copy = downloads / path.name
        shutil.copy(path, copy)
        begin = time.monotonic()
        run([python, "-m", "jupyter", "execute", "--kernel_name=python3", copy.name], env, cwd=downloads)
        timings.append(f"{path.relative_to(ROOT)} {time.monotonic() - begin:.0f} s")
    where = run([python, "-c", "import lossfns; print(lossfns.__file__)"], env, cwd=downloads)
    assert Path(where.strip()).is_relative_to(tmp_path / "venv"), "lossfns was not installed by the cell"
    print(f"fresh venv + kernel {setup:.0f} s; " + "; ".join(timings))


def binder_installed(tmp_path: Path) -> Path:
    """The folder of run_anywhere.install_binder's fresh venv: installed here, or by `make test`
    in the background from its start (pip mostly waits on the package index, for about a
    minute), which names the folder in LOSSBOOK_TEST_BINDER."""
    prepared = os.environ.get(BINDER_VARIABLE)
    if not prepared:
        run_anywhere.install_binder(tmp_path)
        return tmp_path
    folder, start = Path(prepared), time.monotonic()
    while not (folder / run_anywhere.BINDER_STATUS).is_file():
        assert time.monotonic() - start < TIMEOUT_S, f"{folder}: the install started by make did not end"
        time.sleep(1)
    return folder


def test_an_interrupted_binder_install_still_leaves_its_status(tmp_path, monkeypatch):
    """A test waits for install_binder's status file: an install stopped by Ctrl-C (or one whose
    venv cannot be made) writes it too, naming what stopped it, and the interruption goes on up."""

    def interrupted(folder):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_anywhere, "fresh_venv", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_anywhere.install_binder(tmp_path)
    status = json.loads((tmp_path / run_anywhere.BINDER_STATUS).read_text())
    assert status["returncode"] == "KeyboardInterrupt: "


def test_binder_requirements_install_and_import_everything_the_notebooks_import(tmp_path):
    folder = binder_installed(tmp_path)
    status = json.loads((folder / run_anywhere.BINDER_STATUS).read_text())
    log = (folder / "pip.log").read_text() if (folder / "pip.log").is_file() else "(no pip log)"
    assert status["returncode"] == 0, f"pip install -r binder/requirements.txt: {status}\n{log[-4000:]}"
    python, env = folder / "venv" / "bin" / "python", run_anywhere.venv_environment(folder / "venv")
    start = time.monotonic()
    modules = sorted(set().union(*(run_anywhere.imports(json.loads(p.read_text())) for p in run_anywhere.notebooks())))
    assert "lossfns" in {m.split(".")[0] for m in modules}
    script = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    run([python, "-c", script, *modules], env, cwd=tmp_path)
    run([python, "-m", "pip", "check"], env)
    print(f"binder requirements: installed in {status['seconds']:.0f} s; {len(modules)} modules "
          f"imported and pip check in {time.monotonic() - start:.0f} s")
