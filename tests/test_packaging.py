"""The repository's hygiene: notebooks committed without outputs, a lean installable package."""

import json
import re
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "chapters").rglob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "chapters/ holds no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebooks_are_committed_without_outputs(path):
    cells = json.loads(path.read_text())["cells"]
    dirty = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and (c["outputs"] or c["execution_count"])]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"


def test_wheel_needs_only_numpy_scipy_and_array_api_compat_and_is_typed(lossfns_wheel):
    with zipfile.ZipFile(lossfns_wheel) as archive:
        names = archive.namelist()
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        requires = [
            line.split(":", 1)[1].strip()
            for line in archive.read(metadata).decode().splitlines()
            if line.startswith("Requires-Dist:")
        ]
    assert "lossfns/py.typed" in names
    assert sorted(re.split("[<>=!~ ;]", r)[0] for r in requires if "extra ==" not in r) == [
        "array-api-compat", "numpy", "scipy"
    ]
