"""One shape for every paper: the lifecycle names, the file template, the package's boundaries.

Every notebook's package (each paper and the tour) exposes ``PRESETS``, ``config``,
``result`` and ``Result``; the registry reads its presets from them; each paper folder
follows one template; no module grows past 600 lines; ``causalkit`` never imports
``widgets``.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from causalkit.notebooks import NOTEBOOKS

PACKAGE = Path(__file__).resolve().parents[1] / "causalkit"
PAPERS = [spec.package for spec in NOTEBOOKS.values() if spec.name != "tour"]
TEMPLATE = ("__init__.py", "experiment.py", "model.py", "train.py")


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_package_exposes_presets_config_result(name):
    module = NOTEBOOKS[name].module()
    assert {"PRESETS", "config", "result", "Result"} <= set(vars(module))
    assert {"quick", "paper"} <= set(module.PRESETS)
    for preset, frozen in module.PRESETS.items():
        assert dataclasses.is_dataclass(frozen) and frozen.__dataclass_params__.frozen
        assert module.config(preset) == frozen
    assert module.config() == module.PRESETS["quick"]
    config_params = inspect.signature(module.config).parameters
    assert next(iter(config_params)) == "preset" and config_params["preset"].default == "quick"
    assert any(p.kind is p.VAR_KEYWORD for p in config_params.values())
    assert list(inspect.signature(module.result).parameters)[:2] == ["config", "seed"]
    assert inspect.isclass(module.Result)
    hints = typing.get_type_hints(module.result)
    assert hints["return"] is module.Result


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_config_refuses_unknown_presets_and_fields(name):
    module = NOTEBOOKS[name].module()
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        module.config("huge")
    with pytest.raises(ValueError, match="has no field 'not_a_field'"):
        module.config("quick", not_a_field=1)


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_result_refuses_a_bad_config_or_seed_before_training(name, tmp_cache):
    module = NOTEBOOKS[name].module()
    with pytest.raises(ValueError, match="expected a"):
        module.result("quick", 0)
    for seed in (-1, True, 2**32, 1.5):
        with pytest.raises(ValueError, match="seed"):
            module.result(module.config(), seed)
    assert not tmp_cache.exists() or not any(tmp_cache.iterdir())


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_registry_reads_its_presets_from_the_package(name):
    spec = NOTEBOOKS[name]
    assert spec.presets == tuple(spec.module().PRESETS)


@pytest.mark.parametrize("package", PAPERS)
def test_every_paper_folder_follows_the_template(package):
    folder = PACKAGE / package.split(".")[-1]
    missing = [f for f in TEMPLATE if not (folder / f).is_file()]
    assert not missing, f"{folder} lacks {missing}"


def _modules() -> list[Path]:
    root = PACKAGE.parent
    return sorted([*PACKAGE.rglob("*.py"), *(root / "widgets").rglob("*.py")])


def test_no_module_over_600_lines_or_docstring_over_40():
    too_long, wordy = [], []
    for path in _modules():
        text = path.read_text()
        if text.count("\n") > 600:
            too_long.append(path.name)
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if docstring.count("\n") >= 40:
            wordy.append(path.name)
    assert not too_long and not wordy, (too_long, wordy)


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_causalkit_never_imports_widgets():
    offenders = [p.name for p in PACKAGE.rglob("*.py") if "widgets" in _imported_roots(p)]
    assert not offenders
    # And at run time: importing every causalkit module loads no panel.
    probe = (
        "import importlib, pkgutil, sys, causalkit\n"
        "for m in pkgutil.walk_packages(causalkit.__path__, 'causalkit.'):\n"
        "    if m.name != 'causalkit.__main__':\n"
        "        importlib.import_module(m.name)\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] == 'widgets'))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_no_module_guesses_paths_from_the_checkout():
    offenders = [p.name for p in _modules() if "PROJECT_ROOT" in p.read_text()]
    assert not offenders


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_every_cache_entry_is_versioned_by_the_code_that_builds_it(name):
    """data_cache/README.md promises that changed training code never reuses a stale entry."""
    from causalkit.core import code_version

    package = NOTEBOOKS[name].package
    root = PACKAGE.parent / Path(*package.split("."))
    files = sorted(root.rglob("*.py")) if root.is_dir() else [root.with_suffix(".py")]
    calls = 0
    for path in files:
        module = importlib.import_module(
            ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        )
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "cached":
                calls += 1
                version = {k.arg: k.value for k in node.keywords}.get("version")
                assert isinstance(version, ast.Name), f"{path.name}:{node.lineno}"
                assert getattr(module, version.id) == code_version(package), path.name
    assert calls, f"{package} caches nothing?"
