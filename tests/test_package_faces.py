"""Package faces: every jclip module is reachable as an attribute after ``import jclip``, loaded
on first use (``import jclip`` pulls in neither TensorFlow nor torch), and names that moved say
where they went."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _modules() -> list[str]:
    out = []
    for folder, _, files in os.walk(os.path.join(ROOT, "jclip")):
        for f in sorted(files):
            if f.endswith(".py") and not f.startswith("_"):
                rel = os.path.relpath(os.path.join(folder, f), ROOT)[:-3]
                out.append(rel.replace(os.sep, "."))
    return sorted(out)


def test_every_module_is_an_attribute_after_import_jclip():
    modules = _modules()
    assert "jclip.data.folder" in modules and "jclip.heads.numclip" in modules
    code = f"""
import sys, functools
import jclip
heavy = sorted(m for m in ("tensorflow", "torch") if m in sys.modules)
assert not heavy, f"import jclip imported {{heavy}}"
for name in {modules!r}:
    obj = functools.reduce(getattr, name.split(".")[1:], jclip)
    # A module may be shadowed by the function of the same name it defines (jclip.attacks.pgd).
    assert obj is sys.modules[name] or getattr(obj, "__module__", None) == name, name
print("ok", len({modules!r}))
"""
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split() == ["ok", str(len(modules))]


def test_unknown_names_and_moved_names_say_so():
    import jclip
    from jclip.train import input_pipeline

    with pytest.raises(AttributeError, match="'jclip.heads' has no attribute 'nope'"):
        jclip.heads.nope  # noqa: B018
    with pytest.raises(AttributeError, match="moved to jclip.train.sources.make_batches"):
        input_pipeline.make_batches  # noqa: B018
    assert "numclip" in dir(jclip.heads) and "load_tokenizer" in dir(jclip)
