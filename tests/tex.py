"""Compile a table's .tex as a paper would: ``\\input`` in a document whose preamble is exactly
``\\documentclass{article}\\usepackage{booktabs}``, with Debian's pdflatex.

``texlive-latex-base`` and ``texlive-latex-recommended`` are Debian packages: the session fixture installs them when
pdflatex is missing and the tests run as root (CI: a fresh Debian machine); elsewhere the tests that need them are
skipped with the reason printed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

PREAMBLE = r"\documentclass{article}\usepackage{booktabs}"
PACKAGES = ["texlive-latex-base", "texlive-latex-recommended"]
# What a paper's author would have to fix: errors, boxes sticking out of the text block, floats taller than a page,
# characters the fonts lack.
PROBLEMS = re.compile(r"^(! .*|Overfull \\[hv]box.*|LaTeX Warning: Float too large.*|Missing character.*)$", re.M)


def install_latex() -> str | None:
    """Install pdflatex and booktabs with apt when missing; the reason they cannot be used, or None when they can."""
    if shutil.which("pdflatex") and _has_booktabs():
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "pdflatex (Debian texlive-latex-base, texlive-latex-recommended) is missing and cannot be installed here"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "--no-install-recommends", *PACKAGES]
    result = subprocess.run(install, capture_output=True, text=True, env=env, timeout=1800)
    if result.returncode != 0:  # stale package lists: refresh once and retry
        subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=600", "update"], capture_output=True, env=env,
                       timeout=600)
        result = subprocess.run(install, capture_output=True, text=True, env=env, timeout=1800)
    if result.returncode != 0 or not shutil.which("pdflatex"):
        return f"apt-get install {' '.join(PACKAGES)} failed: {(result.stderr or result.stdout)[-500:]}"
    return None


def _has_booktabs() -> bool:
    found = subprocess.run(["kpsewhich", "booktabs.sty"], capture_output=True, text=True)
    return found.returncode == 0 and bool(found.stdout.strip())


@pytest.fixture(scope="session")
def pdflatex() -> str:
    reason = install_latex()
    if reason:
        print(f"SKIP LaTeX tests: {reason}")
        pytest.skip(reason)
    return shutil.which("pdflatex")


def compile_problems(tex: Path) -> list[str]:
    """What goes wrong when ``tex`` is ``\\input`` into a default article (empty: nothing); the file must be ASCII."""
    text = tex.read_bytes()
    if not text.isascii():
        return [f"{tex.name}: non-ASCII bytes {sorted({chr(b) for b in text if b > 127})[:5]}"]
    with tempfile.TemporaryDirectory(prefix="mubench-tex-") as folder:
        shutil.copy(tex, Path(folder) / "table.tex")
        (Path(folder) / "paper.tex").write_text(PREAMBLE + "\n\\begin{document}\n\\input{table}\n\\end{document}\n")
        run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=folder,
                             capture_output=True, text=True, timeout=120)
        log = (Path(folder) / "paper.log").read_text(errors="replace")
        problems = PROBLEMS.findall(log)
        if run.returncode != 0 and not problems:
            problems = [f"pdflatex exited with {run.returncode}: {run.stdout[-500:]}"]
        if not problems and not (Path(folder) / "paper.pdf").exists():
            problems = ["no PDF written"]
    return [f"{tex.name}: {problem}" for problem in problems]
