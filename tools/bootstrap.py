#!/usr/bin/env python3
"""Create or refresh the project virtual environment in ``.venv``.

Run with any Python >= 3.9 (``make demo`` and ``make test`` call it first):

    python3 tools/bootstrap.py

What it does, once per change of ``requirements.txt`` or of this file:

1. creates ``.venv`` (with access to the base interpreter's packages when that
   interpreter already has torch, so an installed torch is kept);
2. installs torch only when none is importable: on a machine with an NVIDIA GPU
   the registry's default (CUDA) build; otherwise a CPU build, either a local
   ``+cpu`` wheel that pip can see or the PyTorch CPU index. It refuses to
   download CUDA packages onto a machine without a GPU;
3. installs torchaudio without letting it replace torch, and on a CPU torch
   whose torchaudio native library is a CUDA build (PyPI's wheels are), moves
   that library aside so that torchaudio's pure-Python part imports;
4. installs the rest of ``requirements.txt`` and records a stamp so that the
   next run returns at once.

Every decision is printed as one ``bootstrap:`` line.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("EFFICIENT_ASR_VENV", ROOT / ".venv"))
STAMP = VENV / ".setup-stamp"
PYTORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def say(message):
    """Print one bootstrap line."""
    print(f"bootstrap: {message}", flush=True)


def venv_python():
    """Path of the virtual environment's interpreter."""
    return VENV / "bin" / "python"


def run(cmd, check=True, capture=False):
    """Run a command, returning its completed process."""
    return subprocess.run(
        [str(c) for c in cmd], check=check, text=True, capture_output=capture
    )


def pip(*args, check=True, capture=False):
    """Run pip of the virtual environment."""
    cmd = [venv_python(), "-m", "pip", "--disable-pip-version-check", *args]
    return run(cmd, check=check, capture=capture)


def setup_digest():
    """Hash of everything that decides what gets installed."""
    digest = hashlib.sha256()
    for path in (ROOT / "requirements.txt", Path(__file__).resolve()):
        digest.update(path.read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def python_has(python, module):
    """Whether ``python`` can import ``module``."""
    code = f"import {module}"
    return run([python, "-c", code], check=False, capture=True).returncode == 0


def has_nvidia_gpu():
    """Whether an NVIDIA GPU is visible through nvidia-smi."""
    if shutil.which("nvidia-smi") is None:
        return False
    return run(["nvidia-smi", "-L"], check=False, capture=True).returncode == 0


def create_venv():
    """Create .venv; share the base site-packages when they hold torch."""
    if venv_python().exists():
        return
    share = python_has(sys.executable, "torch")
    args = [sys.executable, "-m", "venv", VENV]
    if share:
        args.insert(3, "--system-site-packages")
    run(args)
    how = "sharing the base interpreter's torch" if share else "isolated"
    say(f"created virtual environment {VENV} ({how})")


def dry_run_installs(spec, *extra):
    """Names of the packages that ``pip install spec`` would install."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        result = pip(
            "install",
            "--dry-run",
            "--quiet",
            "--report",
            report,
            spec,
            *extra,
            check=False,
            capture=True,
        )
        if result.returncode != 0:
            return None
        entries = json.loads(report.read_text())["install"]
    return [entry["metadata"]["name"].lower() for entry in entries]


def local_cpu_torch_spec():
    """``torch==X+cpu`` for the newest CPU wheel pip can see, or None."""
    result = pip("index", "versions", "torch", check=False, capture=True)
    for line in result.stdout.splitlines():
        if line.startswith("Available versions:"):
            versions = [v.strip() for v in line.split(":", 1)[1].split(",")]
            cpu = [v for v in versions if v.endswith("+cpu")]
            if cpu:
                return f"torch=={cpu[0]}"
    return None


def pulls_cuda(names):
    """Whether a list of package names contains CUDA runtime packages."""
    return any(n.startswith(("nvidia-", "cuda-")) or n == "triton" for n in names)


def install_torch():
    """Install torch unless one is importable; never CUDA on a CPU machine."""
    if python_has(venv_python(), "torch"):
        say("keeping the installed torch")
        return
    if has_nvidia_gpu():
        pip("install", "--quiet", "torch>=2.7.1")
        say("NVIDIA GPU found: installed the default (CUDA) torch build")
        return
    choices = []
    local = local_cpu_torch_spec()
    if local:
        choices.append((local, []))
    choices.append(("torch>=2.7.1", ["--index-url", PYTORCH_CPU_INDEX]))
    for spec, extra in choices:
        names = dry_run_installs(spec, *extra)
        if names is not None and not pulls_cuda(names):
            pip("install", "--quiet", spec, *extra)
            say(f"no GPU: installed CPU torch ({' '.join([spec, *extra])})")
            return
    sys.exit(
        "bootstrap: no GPU here and no CPU build of torch could be found; refusing "
        "to download CUDA packages. Install a CPU torch into .venv yourself, e.g. "
        f"'.venv/bin/pip install torch --index-url {PYTORCH_CPU_INDEX}', and rerun."
    )


TORCHAUDIO_CHECK = """
import json, torch
state = {"cuda_torch": torch.version.cuda is not None}
try:
    import torchaudio
    state.update(status="ok", version=torchaudio.__version__)
except ImportError:
    state.update(status="missing")
except OSError as error:
    state.update(status="native", error=str(error))
print(json.dumps(state))
"""


def torchaudio_state():
    """How torchaudio imports in .venv: ok, missing, or native-library failure."""
    output = run([venv_python(), "-c", TORCHAUDIO_CHECK], capture=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def install_torchaudio():
    """Install torchaudio without letting pip replace torch."""
    if torchaudio_state()["status"] == "missing":
        pip("install", "--quiet", "--no-deps", "torchaudio>=2.7.1")


def make_torchaudio_importable():
    """On CPU torch, move aside a torchaudio native library that cannot load."""
    state = torchaudio_state()
    if state["status"] == "ok":
        say(f"torchaudio {state['version']} imports; left untouched")
        return
    if state["status"] == "missing" or state["cuda_torch"]:
        sys.exit(f"bootstrap: torchaudio does not import: {state}")
    disabled = disable_torchaudio_native()
    state = torchaudio_state()
    if state["status"] != "ok":
        sys.exit(f"bootstrap: torchaudio still fails to import: {state}")
    say(
        f"torchaudio {state['version']}: its native library is a CUDA build that "
        f"does not load with CPU torch; moved {disabled} file(s) aside "
        "(*.so.cuda-disabled), pure-Python torchaudio in use"
    )


def disable_torchaudio_native():
    """Rename torchaudio's native libraries so its loader skips them."""
    code = "import importlib.util as u; print(u.find_spec('torchaudio').origin)"
    origin = run([venv_python(), "-c", code], capture=True).stdout.strip()
    libs = sorted((Path(origin).parent / "lib").glob("*.so"))
    for lib in libs:
        lib.rename(lib.with_name(lib.name + ".cuda-disabled"))
    return len(libs)


def main():
    """Bring .venv up to date with requirements.txt."""
    digest = setup_digest()
    if STAMP.exists() and STAMP.read_text() == digest and venv_python().exists():
        say(f"{VENV} is up to date")
        return
    create_venv()
    install_torch()
    install_torchaudio()
    pip("install", "--quiet", "-r", ROOT / "requirements.txt")
    make_torchaudio_importable()
    STAMP.write_text(digest)
    say(f"{VENV} is ready")


if __name__ == "__main__":
    main()
