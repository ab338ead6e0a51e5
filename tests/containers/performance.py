"""The "Container images" section of docs/performance.md, from one `make test-containers` run.

    python3 tests/containers/performance.py TIMINGS_TSV SIZES_TSV LOAD_BEFORE [--write docs/performance.md]

TIMINGS_TSV holds `step<TAB>seconds` lines (tests/containers/run.sh and tests/test_container_run.py write them;
lines of single images start with two spaces). SIZES_TSV holds `image<TAB>bytes`, as podman stored each image
when it was built (run.sh removes some before the end to save disk). Without --write the section is
printed; with it, the section replaces the one in the file (`make bench` keeps it when it rewrites the rest).
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

HEADING = "## Container images (`make test-containers`)"
PARENT = re.compile(r"^Bootstrap: localimage\s*\nFrom: containers/(\S+)\.sif", re.M)


def image_sizes(sizes: Path) -> dict[str, int]:
    return {name: int(size) for name, size in (line.split("\t") for line in sizes.read_text().splitlines() if line)}


def section(timings: Path, sizes_tsv: Path, load_before: str) -> str:
    rows = [line.split("\t") for line in timings.read_text().splitlines() if "\t" in line]
    podman = subprocess.run(["podman", "--version"], capture_output=True, text=True).stdout.strip()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [HEADING, "",
             f"> Written by `make test-containers RECORD=1` (tests/containers/run.sh): run of {now} on "
             f"{os.cpu_count()} CPU cores ({platform.machine()}), {podman} with runc, as root; pip inside the builds",
             "> read this machine's local wheel mirror and PyPI through its proxy. Load average "
             f"{load_before} at the start, {os.getloadavg()[0]:.1f} at the end (other work on the machine "
             "stretches wall times).", "",
             "| step | wall time |", "|---|---|"]
    lines += [f"| {'&nbsp;&nbsp;' if step.startswith('  ') else ''}{step.strip()} | {int(seconds) // 60} min "
              f"{int(seconds) % 60:02d} s |" for step, seconds in rows]
    total = sum(int(s) for step, s in rows if not step.startswith("  "))
    lines += [f"| **total** | **{total // 60} min {total % 60:02d} s** |", ""]
    recipes = Path(__file__).resolve().parents[2] / "containers"
    sizes = image_sizes(sizes_tsv)
    lines += ["| image | starts from | size (uncompressed, as podman stores it) | adds to what it starts from |",
              "|---|---|---|---|"]
    for name in sorted(sizes):
        text = (recipes / f"{name}.def").read_text() if (recipes / f"{name}.def").exists() else ""
        parent = PARENT.search(text)
        start = f"`{parent[1]}`" if parent else "Python 3.11 (Debian 12)"
        added = f"{(sizes[name] - sizes[parent[1]]) / 1e9:.2f} GB" if parent and parent[1] in sizes else "–"
        lines.append(f"| `{name}` | {start} | {sizes[name] / 1e9:.2f} GB | {added} |")
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> None:
    current = path.read_text()
    head, found, _ = current.partition(HEADING)
    path.write_text(head.rstrip("\n") + "\n\n" + text)


if __name__ == "__main__":
    if len(sys.argv) not in (4, 6) or (len(sys.argv) == 6 and sys.argv[4] != "--write"):
        sys.exit(__doc__)
    body = section(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
    if len(sys.argv) == 6:
        write(Path(sys.argv[5]), body)
        print(f"wrote the container section of {sys.argv[5]}")
    else:
        print(body)
