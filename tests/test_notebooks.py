"""Executes every notebook under notebooks/ top to bottom; a cell that raises fails the test, and
every cell that shows a figure must produce an image (a study that switched matplotlib to a
non-interactive backend would leave it blank)."""

import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((pathlib.Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    # A generous per-cell limit: a micro study run on a loaded 2-core machine takes minutes.
    client = NotebookClient(notebook, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any(o.output_type == "stream" for o in outputs), "the notebook printed nothing"
    for cell in notebook.cells:
        if cell.cell_type == "code" and "plt.show()" in cell.source:
            images = [o for o in cell.outputs if o.output_type == "display_data"
                      and "image/png" in o.get("data", {})]
            assert images, f"a figure cell of {path.name} shows no image:\n{cell.source[:300]}"
