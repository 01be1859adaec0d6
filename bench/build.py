"""Builds the artefacts the benchmark runs, the way SAM builds them, for this machine.

* layer:    <dest>/layer/python/ = `pip install --target` of layers/bridge/requirements.txt plus a copy
            of layers/bridge/bridge, as layers/bridge/Makefile lays out the layer for `sam build`.
* function: <dest>/function/ = a copy of functions/ingest/.
* baseline: <dest>/baseline/ = bench/baseline/app.py plus `requests` at the version the layer resolved.
* floor:    <dest>/floor/ = bench/floor/app.py (the exactly-once floor) plus the same `requests`.
* runtime:  <dest>/runtime/ = links to the venv's boto3, botocore and their dependencies: what
            /var/runtime gives a Lambda function without it shipping them.

The layer's Makefile ships unchecked-hash bytecode (compileall), and so does this with
`compile=True`; `compile=False` is what SAM's python builder would ship: no bytecode at all.
Dependency installs are cached under bench/.cache/ by a hash of the requirements and interpreter.

    python -m bench.build [--compile] [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER_SOURCE = ROOT / "layers" / "bridge"
FUNCTION_SOURCE = ROOT / "functions" / "ingest"
BASELINE_SOURCE = ROOT / "bench" / "baseline" / "app.py"
FLOOR_SOURCE = ROOT / "bench" / "floor" / "app.py"
CACHE = ROOT / "bench" / ".cache"
# What the Lambda Python runtime provides in /var/runtime (boto3 and its dependency closure).
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
# Bumped when the way dependencies are installed changes, so stale caches are not reused.
_CACHE_FORMAT = "no-compile-v1"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")

Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Size:
    files: int
    bytes: int
    zip_bytes: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Artefacts:
    root: Path
    layer: Path  # the layer's root, as its zip is laid out: python/ is under it
    function: Path
    baseline: Path
    floor: Path
    runtime: Path
    compiled: bool
    requests_version: str
    layer_size: Size
    function_size: Size
    baseline_size: Size
    floor_size: Size
    pip_conflicts: list[str] = field(default_factory=list)

    @property
    def layer_python(self) -> Path:
        return self.layer / "python"

    def as_dict(self) -> dict[str, object]:
        return {
            "root": str(self.root),
            "compiled": self.compiled,
            "requests_version": self.requests_version,
            "layer": self.layer_size.as_dict(),
            "function": self.function_size.as_dict(),
            "baseline": self.baseline_size.as_dict(),
            "floor": self.floor_size.as_dict(),
            "pip_conflicts": self.pip_conflicts,
        }


def build(dest: Path, *, compile: bool = False, python: str = sys.executable, log: Log = _stderr) -> Artefacts:
    dest.mkdir(parents=True, exist_ok=True)
    requirements = LAYER_SOURCE / "requirements.txt"
    deps, conflicts = _cached_install(
        "layer", requirements.read_bytes(), ["-r", str(requirements)], python=python, log=log
    )
    layer = dest / "layer"
    shutil.copytree(deps, layer / "python")
    # SAM copies the layer's ContentUri (the bridge package and requirements.txt) into python/.
    shutil.copytree(LAYER_SOURCE, layer / "python", ignore=_IGNORE, dirs_exist_ok=True)

    function = dest / "function"
    shutil.copytree(FUNCTION_SOURCE, function, ignore=_IGNORE)

    # Same requests as the layer resolves, so the baseline's HTTP stack is the bridge's.
    requests_version = _dist_version(deps, "requests")
    baseline_deps, _ = _cached_install(
        "baseline", f"requests=={requests_version}".encode(), [f"requests=={requests_version}"], python=python, log=log
    )
    baseline = dest / "baseline"
    shutil.copytree(baseline_deps, baseline)
    shutil.copy2(BASELINE_SOURCE, baseline / "app.py")
    floor = dest / "floor"
    shutil.copytree(baseline_deps, floor)
    shutil.copy2(FLOOR_SOURCE, floor / "app.py")

    runtime = dest / "runtime"
    _link_runtime(runtime)

    if compile:
        for tree in (layer / "python", function, baseline, floor):
            _compile(tree, python, log)

    artefacts = Artefacts(
        root=dest,
        layer=layer,
        function=function,
        baseline=baseline,
        floor=floor,
        runtime=runtime,
        compiled=compile,
        requests_version=requests_version,
        layer_size=measure(layer, dest),
        function_size=measure(function, dest),
        baseline_size=measure(baseline, dest),
        floor_size=measure(floor, dest),
        pip_conflicts=conflicts,
    )
    log(
        f"built layer {artefacts.layer_size.bytes / 1e6:.1f} MB unzipped, "
        f"{artefacts.layer_size.zip_bytes / 1e6:.1f} MB zipped ({artefacts.layer_size.files} files)"
        + (", bytecode compiled" if compile else ", no bytecode")
    )
    return artefacts


# -- dependencies ------------------------------------------------------------------------------------


def _cache_key(name: str, requirements: bytes, python: str) -> str:
    interpreter = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [python, "-c", "import sys, sysconfig; print(sys.version); print(sysconfig.get_platform())"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    digest = hashlib.sha256(b"\0".join([name.encode(), requirements, interpreter.encode(), _CACHE_FORMAT.encode()]))
    return digest.hexdigest()[:16]


def _cached_install(
    name: str, requirements: bytes, pip_args: list[str], *, python: str, log: Log
) -> tuple[Path, list[str]]:
    """`pip install --no-compile --target` once per requirements/interpreter; later builds copy it."""
    entry = CACHE / f"{name}-{_cache_key(name, requirements, python)}"
    site, meta = entry / "site", entry / "meta.json"
    if meta.exists() and site.is_dir():
        return site, list(json.loads(meta.read_text())["conflicts"])
    log(f"installing {name} dependencies into {entry.relative_to(ROOT)} (cached from now on)")
    CACHE.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{name}-", dir=CACHE))
    try:
        completed = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
            [
                python,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-compile",
                "--disable-pip-version-check",
                "--target",
                str(staging / "site"),
                *pip_args,
            ],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"pip install for the {name} failed:\n{completed.stdout}\n{completed.stderr}")
        # pip's resolver notes (e.g. a dependency pinned against the runtime's botocore) are findings.
        conflicts = [line.strip() for line in completed.stderr.splitlines() if " requires " in line]
        (staging / "meta.json").write_text(json.dumps({"requirements": requirements.decode(), "conflicts": conflicts}))
        shutil.rmtree(entry, ignore_errors=True)
        os.replace(staging, entry)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return site, conflicts


def _dist_version(site: Path, distribution: str) -> str:
    prefix = distribution.lower().replace("-", "_") + "-"
    for info in site.glob("*.dist-info"):
        if info.name.lower().startswith(prefix):
            return info.name[len(prefix) : -len(".dist-info")]
    raise RuntimeError(f"{distribution} is not among the layer's dependencies; pin the baseline's yourself")


def _link_runtime(runtime: Path) -> None:
    runtime.mkdir()
    for module in RUNTIME_MODULES:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"{module} is not installed in {sys.prefix}; run `make` first")
        locations = spec.submodule_search_locations
        source = Path(next(iter(locations))) if locations else Path(spec.origin)
        (runtime / source.name).symlink_to(source, target_is_directory=source.is_dir())


def _compile(tree: Path, python: str, log: Log) -> None:
    log(f"compiling {tree.name} (unchecked-hash .pyc)")
    completed = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(tree)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if completed.returncode != 0:
        # Some packages ship files that are not Python 3 (templates, tests); Lambda never imports them.
        failed = [line for line in completed.stdout.splitlines() if line.startswith("***")]
        log(f"compileall could not compile {len(failed)} file(s) in {tree.name}; they stay source-only")


# -- sizes and permissions -------------------------------------------------------------------------


def measure(tree: Path, scratch: Path) -> Size:
    """Unzipped bytes and files, and the size of the deflated zip Lambda would be given."""
    files = [path for path in sorted(tree.rglob("*")) if path.is_file() and not path.is_symlink()]
    unzipped = sum(path.stat().st_size for path in files)
    with tempfile.NamedTemporaryFile(dir=scratch, suffix=".zip") as handle:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, path.relative_to(tree).as_posix())
        zipped = Path(handle.name).stat().st_size
    return Size(files=len(files), bytes=unzipped, zip_bytes=zipped)


def make_read_only(tree: Path) -> None:
    """As /opt and /var/task are on Lambda (root ignores it, so the child also runs with -B)."""
    _chmod_tree(tree, lambda mode: mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def make_writable(tree: Path) -> None:
    _chmod_tree(tree, lambda mode: mode | stat.S_IWUSR)


def _chmod_tree(tree: Path, change: Callable[[int], int]) -> None:
    for directory, _, files in os.walk(tree):
        for name in [*files, "."]:
            path = Path(directory, name)
            if not path.is_symlink():
                path.chmod(change(path.stat().st_mode))


def bytecode_files(tree: Path) -> list[Path]:
    return [path for path in tree.rglob("*.pyc") if not path.is_symlink()]


def interpreter() -> dict[str, str]:
    return {"python": platform.python_version(), "platform": sysconfig.get_platform()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the layer and functions as SAM does, for this machine.")
    parser.add_argument("--compile", action="store_true", help="ship unchecked-hash bytecode")
    parser.add_argument("--out", type=Path, help="build directory (default: a temporary one, removed)")
    args = parser.parse_args(argv)
    if args.out is not None:
        artefacts = build(args.out, compile=args.compile)
        print(json.dumps(artefacts.as_dict(), indent=2))
        return 0
    with tempfile.TemporaryDirectory(prefix="udm-bench-build-") as scratch:
        artefacts = build(Path(scratch), compile=args.compile)
        print(json.dumps(artefacts.as_dict(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
