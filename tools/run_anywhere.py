"""Make every notebook run outside this repository, and Binder install what the book needs.

``python tools/run_anywhere.py`` (``make cells``) writes, idempotently:

* the **install cell** of every notebook of the book: its first code cell, tagged
  ``remove-cell`` so the site does not show it. On Colab, Binder or a downloaded ``.ipynb`` it
  pip-installs what the page imports and is missing: ``lossfns`` from the repository (the
  address of ``_ext/publishing.py``: ``LOSSBOOK_REPO``, ``_config.yml``, ``git remote``), or from
  ``LOSSFNS_SOURCE`` when that is set (a wheel, an sdist, any pip requirement), and the page's
  other imports at the versions of ``requirements.lock``. Where everything imports (``make
  lab``, the build, nbval) it does nothing. A page that reads files of the repository (its code
  names them: :func:`data_files`) also fetches them when they are not found from the working
  directory up.
* ``binder/requirements.txt``: the pinned packages every notebook imports, and ``lossfns``.

``--check`` writes nothing and exits 1 (listing the files) when any of them is out of date.

``--install-binder FOLDER`` installs ``binder/requirements.txt`` into a fresh virtual
environment in ``FOLDER`` (:func:`install_binder`), as ``tests/test_run_anywhere.py`` does;
`make test` starts it beside its own set-up and hands the folder to that test.
"""

from __future__ import annotations

import argparse
import ast
import functools
import json
import os
import re
import subprocess
import sys
import time
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))
from publishing import repository  # noqa: E402

CELL_ID = "install"
TAGS = ["remove-cell"]
BINDER = ROOT / "binder" / "requirements.txt"
# Imports that need no install: lossfns's own dependencies come with it, IPython with the kernel.
COMES_WITH = {"numpy", "scipy", "IPython"}
# What lossfns's optional modules import (lossfns.plot: the ``plot`` extra).
OPTIONAL = {"lossfns.plot": ["matplotlib", "ipywidgets"]}
# a string in a page's code that may name a file of the repository ("claims.tsv", "bench/x.json")
FILE_NAME = re.compile(r"[\w.-]+(?:/[\w.-]+)*\.[A-Za-z]\w*")
RAW = {  # where a host serves a repository's files
    "github.com": "https://raw.githubusercontent.com/{owner}/{name}/{branch}",
    "gitlab.com": "https://gitlab.com/{owner}/{name}/-/raw/{branch}",
    "bitbucket.org": "https://bitbucket.org/{owner}/{name}/raw/{branch}",
}


def notebooks() -> list[Path]:
    """The book's notebooks: every ``.ipynb`` under chapters/ and appendix/."""
    found = [*ROOT.glob("chapters/**/*.ipynb"), *ROOT.glob("appendix/**/*.ipynb")]
    return sorted(p for p in found if ".ipynb_checkpoints" not in p.parts)


def _syntax(notebook: dict) -> list[ast.AST]:
    """The nodes of the notebook's code (the install cell's aside; magics and shell lines skipped)."""
    found = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code" or cell.get("id") == CELL_ID:
            continue
        source = "".join(cell["source"])
        code = "\n".join(
            "" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()
        )
        found += ast.walk(ast.parse(code))
    return found


def imports(notebook: dict) -> set[str]:
    """Dotted names of the modules the notebook's code imports."""
    names: set[str] = set()
    for node in _syntax(notebook):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@functools.cache
def repository_files() -> tuple[str, ...]:
    """The repository's files (tracked ones when this is a git clone), relative to its root."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True)
    if listed.returncode == 0 and listed.stdout.strip():
        return tuple(listed.stdout.splitlines())
    skip = {".git", ".venv", "node_modules", "_build", "build"}
    return tuple(
        path.relative_to(ROOT).as_posix()
        for path in ROOT.rglob("*")
        if path.is_file() and not skip & set(path.relative_to(ROOT).parts)
    )


def data_files(notebook: dict) -> list[str]:
    """Files of the repository the notebook reads: its code names exactly one of them.

    A string such as ``"claims.tsv"`` or ``"bench/results.json"`` in the code that names one file
    of the repository (outside the library, which comes with ``lossfns``) counts.
    """
    files = set()
    for node in _syntax(notebook):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and FILE_NAME.fullmatch(node.value):
            named = [
                f for f in repository_files()
                if (f == node.value or f.endswith("/" + node.value)) and not f.startswith("lossfns/")
            ]
            if len(named) == 1:
                files.add(named[0])
    return sorted(files)


@functools.cache
def locked() -> dict[str, str]:
    """Normalised distribution name -> ``name==version`` from requirements.lock."""
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name = line.split("==")[0].strip()
            pins[_normalise(name)] = line.strip()
    return pins


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def third_party(names: set[str]) -> list[str]:
    """The top-level modules behind ``names`` that pip must install, ``lossfns`` first."""
    top = {name.split(".")[0] for name in names}
    for module, needed in OPTIONAL.items():
        if module in names:
            top.update(needed)
    top -= set(sys.stdlib_module_names) | COMES_WITH
    return sorted(top, key=lambda m: (m != "lossfns", m.lower()))


def requirement(module: str) -> str:
    """The pinned requirement that provides ``module`` (from requirements.lock)."""
    distributions = _distributions().get(module)
    if not distributions:
        raise SystemExit(f"no installed distribution provides {module!r}: run make first")
    pins = locked()
    for distribution in distributions:
        if _normalise(distribution) in pins:
            return pins[_normalise(distribution)]
    raise SystemExit(f"{module!r} ({', '.join(distributions)}) is not in requirements.lock")


@functools.cache
def _distributions() -> dict[str, list[str]]:
    return packages_distributions()


def lossfns_source() -> tuple[str, str | None]:
    """The default pip requirement for lossfns and the base URL of the repository's files."""
    url, branch = repository(ROOT)
    if url is None:
        return "", None
    host, owner, name = url.removeprefix("https://").split("/")
    return f"lossfns @ git+{url}@{branch}", RAW[host].format(owner=owner, name=name, branch=branch)


def _wrap(prefix: str, items: list[str], closing: str, width: int = 95) -> list[str]:
    lines, line = [], prefix
    for i, item in enumerate(items):
        piece = item + (", " if i < len(items) - 1 else closing)
        if len(line) + len(piece.rstrip()) > width and line.strip():
            lines.append(line.rstrip())
            line = " " * len(prefix)
        line += piece
    lines.append(line.rstrip())
    return lines


def install_cell(path: Path, notebook: dict) -> str:
    """The source of the install cell of the notebook at ``path``."""
    modules = third_party(imports(notebook))
    source, raw = lossfns_source()
    needs = ['"lossfns": lossfns'] if "lossfns" in modules else []
    needs += [f'"{m}": "{requirement(m)}"' for m in modules if m != "lossfns"]
    lines = [
        "# Runs this page outside the book (Colab, Binder, a downloaded .ipynb): installs what it",
        "# imports when that is missing. In the book's own environment it does nothing.",
        "import importlib.util, os, subprocess, sys",
        "",
    ]
    if "lossfns" in modules and source:
        lines.append(f'lossfns = os.environ.get("LOSSFNS_SOURCE", "{source}")')
    elif "lossfns" in modules:  # no repository address is configured: nothing to point at
        lines.append('lossfns = os.environ.get("LOSSFNS_SOURCE")  # a wheel, an sdist or a pip URL')
    lines += _wrap("needs = {", needs, "}")
    lines.append(
        "missing = [pip for module, pip in needs.items() if importlib.util.find_spec(module) is None]"
    )
    lines.append("if missing:")
    if "lossfns" in modules and not source:
        lines.append('    assert all(missing), "set LOSSFNS_SOURCE to a wheel, sdist or pip URL of lossfns"')
    lines.append('    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], check=True)')
    files = data_files(notebook)
    if files:
        lines += ["", "from pathlib import Path", "from urllib.request import urlretrieve", ""]
        if raw:
            lines.append(f'files = os.environ.get("LOSSBOOK_FILES", "{raw}")')
        else:
            lines.append('files = os.environ.get("LOSSBOOK_FILES")  # the URL of the repository\'s files')
        lines += [
            f"for file in {json.dumps(files)}:  # what this page reads from the repository",
            "    if not any((folder / file).exists() for folder in (Path.cwd(), *Path.cwd().parents)):",
        ]
        if not raw:
            lines.append('        assert files, "set LOSSBOOK_FILES to the URL of the repository\'s files"')
        lines += [
            "        Path(file).parent.mkdir(parents=True, exist_ok=True)",
            '        urlretrieve(f"{files}/{file}", file)',
        ]
    return "\n".join(lines)


def with_install_cell(path: Path) -> tuple[str, str]:
    """The notebook's text now and with its install cell written (before its first code cell)."""
    text = path.read_text()
    notebook = json.loads(text)
    cell = {
        "cell_type": "code",
        "execution_count": None,
        "id": CELL_ID,
        "metadata": {"tags": TAGS},
        "outputs": [],
        "source": install_cell(path, notebook).splitlines(keepends=True),
    }
    cells = [c for c in notebook["cells"] if c.get("id") != CELL_ID]
    first_code = next((i for i, c in enumerate(cells) if c["cell_type"] == "code"), len(cells))
    notebook["cells"] = cells[:first_code] + [cell] + cells[first_code:]
    return text, json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def binder_requirements() -> str:
    modules = set().union(*(imports(json.loads(p.read_text())) for p in notebooks()))
    pins = [requirement(m) for m in third_party(modules) if m != "lossfns"]
    pins += [requirement(m) for m in ("numpy", "scipy")]
    header = [
        "# Binder (repo2docker) installs this into the notebook server's environment, from the",
        "# repository's root: what the book's notebooks import, pinned as in requirements.lock, and",
        "# lossfns itself. Written by `make cells` (tools/run_anywhere.py); do not edit.",
    ]
    return "\n".join(header + sorted(set(pins), key=str.lower) + ["."]) + "\n"


FRESH_TIMEOUT_S = 900
BINDER_STATUS = "status.json"  # what install_binder leaves in its folder, beside venv/ and pip.log


def fresh_venv(folder: Path) -> tuple[Path, dict[str, str]]:
    """A new venv of the Python this one is made from, and an environment to run it in."""
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", folder], check=True, timeout=FRESH_TIMEOUT_S)
    return folder / "bin" / "python", venv_environment(folder)


def venv_environment(folder: Path) -> dict[str, str]:
    """This process's environment, for the venv at ``folder`` instead of any other."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = f"{folder / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["JUPYTER_DATA_DIR"] = str(folder / "jupyter")  # no user-wide kernel specs
    env["MPLBACKEND"] = "Agg"
    # pip byte-compiles every file it installs, which nothing here checks: installing
    # binder/requirements.txt took 92 s of CPU with that and 51 s without (2 min wall either way)
    env["PIP_COMPILE"] = "false"  # (pip reads PIP_NO_COMPILE=1 as "compile")
    # ...and Python then writes the bytecode of what is imported, when it is first imported, as
    # on a reader's machine. Where PYTHONDONTWRITEBYTECODE is set (as on the test machines),
    # every kernel compiled again all it imported: the sample of notebooks took 116 s of CPU
    # with it set and 93 s without.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def install_binder(folder: Path) -> dict:
    """Install ``binder/requirements.txt`` into a fresh venv at ``folder/venv`` as repo2docker
    does (from the repository's root: the ``.`` line is lossfns), pip's output into
    ``folder/pip.log``; return and leave in ``folder/status.json`` pip's exit status and the
    seconds taken (a timeout is exit status ``"timeout"``). The status is written whatever
    happens, an error making the venv included, so that a test waiting for it stops waiting."""
    start = time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        python, env = fresh_venv(folder / "venv")
        with (folder / "pip.log").open("w") as log:
            returncode = subprocess.run(
                [python, "-m", "pip", "install", "-q", "-r", BINDER], env=env, cwd=ROOT,
                stdout=log, stderr=subprocess.STDOUT, timeout=FRESH_TIMEOUT_S, check=False,
            ).returncode
    except subprocess.TimeoutExpired:
        returncode = "timeout"
    except BaseException as error:  # e.g. the venv could not be made, or Ctrl-C
        returncode = f"{type(error).__name__}: {error}"
        raise
    finally:
        status = {"returncode": returncode, "seconds": time.monotonic() - start}
        (folder / BINDER_STATUS).write_text(json.dumps(status))
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if out of date")
    parser.add_argument("--install-binder", metavar="FOLDER", type=Path,
                        help="only install binder/requirements.txt into a fresh venv in FOLDER")
    args = parser.parse_args(argv)
    if args.install_binder:
        return 0 if install_binder(args.install_binder)["returncode"] == 0 else 1
    outdated = []
    for path in notebooks():
        now, wanted = with_install_cell(path)
        if now != wanted:
            outdated.append(path)
            if not args.check:
                path.write_text(wanted)
    binder = binder_requirements()
    if not BINDER.is_file() or BINDER.read_text() != binder:
        outdated.append(BINDER)
        if not args.check:
            BINDER.parent.mkdir(exist_ok=True)
            BINDER.write_text(binder)
    for path in outdated:
        verb = "out of date" if args.check else "written"
        print(f"{path.relative_to(ROOT)}: {verb}")
    return 1 if args.check and outdated else 0


if __name__ == "__main__":
    sys.exit(main())
