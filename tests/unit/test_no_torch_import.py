"""distgrad never imports PyTorch: not `import distgrad`, not any module of the package
(PyTorch is the tests' oracle and the benchmark's peer, both outside the package). Each
check runs in a fresh interpreter, since this test process has torch loaded already."""
from __future__ import annotations

import subprocess
import sys


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)


def test_import_distgrad_does_not_import_torch():
    proc = _python("import distgrad, sys; assert 'torch' not in sys.modules")
    assert proc.returncode == 0, proc.stderr


def test_no_module_of_the_package_imports_torch():
    proc = _python(
        "import importlib, pkgutil, sys\n"
        "import distgrad\n"
        "names = [m.name for m in pkgutil.walk_packages(distgrad.__path__, 'distgrad.')\n"
        "         if m.name.rsplit('.', 1)[-1] != '__main__']\n"  # __main__ runs the CLI
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "    assert 'torch' not in sys.modules, f'{name} imports torch'\n"
        "print(len(names), 'modules')\n")
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.split()[0]) > 20  # the walk found the package's modules
