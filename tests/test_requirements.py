"""Required packages are imported, never skipped.

Every package of ``requirements.txt`` must import in the test environment, and
no test may call ``pytest.importorskip``: a broken install of a required
package (kenlm, transformers, ptflops, ...) has to fail the suite instead of
silently dropping the tests that need it.
"""

import ast
import importlib
import re
from pathlib import Path

import pytest

from tests.paths import REPO_ROOT

ROOT = Path(REPO_ROOT)
REQUIREMENTS = ROOT / "requirements.txt"


def required_distributions():
    """Distribution names of ``requirements.txt``, in file order."""
    names = []
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(re.split(r"[<>=!~;\[\s]", line, maxsplit=1)[0])
    return names


IMPORT_NAMES = {"flashlight-text": "flashlight.lib.text"}
"""Distributions imported under another name than :func:`module_of` makes."""


def module_of(distribution):
    """The module a distribution is imported as (``espeakng-loader`` ->
    ``espeakng_loader``, or its entry in :data:`IMPORT_NAMES`)."""
    return IMPORT_NAMES.get(distribution, distribution.lower().replace("-", "_"))


def importorskip_calls(path):
    """Line numbers of ``importorskip(...)`` calls in a Python file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "attr", getattr(node.func, "id", None)) == "importorskip"
    ]


def test_requirements_name_the_packages_the_tests_need():
    modules = {module_of(d) for d in required_distributions()}
    needed = {"torch", "torchaudio", "speechbrain", "kenlm", "transformers"}
    assert needed | {"ptflops", "pyctcdecode", "espeakng_loader"} <= modules


@pytest.mark.parametrize("distribution", required_distributions())
def test_required_package_imports(distribution):
    importlib.import_module(module_of(distribution))


def test_no_test_skips_on_a_missing_import():
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        for line in importorskip_calls(path)
    ]
    assert not found, (
        "pytest.importorskip hides a broken install of a required package; "
        f"import it normally instead (and list it in requirements.txt): {found}"
    )
