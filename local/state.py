"""Where the running `make run` stack listens: a small state file the stack writes while it serves.

`make run` takes the default ports when they are free and others when they are not, so every
command that talks to the stack (local.sign --send, udm-bridge --local, make invoke) reads this
file instead of assuming 3000/5005/4010. A file left behind by a stack that died is ignored.
Standard library only: the ops CLI reads it without importing moto.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".run"
STATE_FILE = RUN_DIR / "stack.json"
LOG_FILE = RUN_DIR / "stack.log"
DEFAULT_FRONT = "http://127.0.0.1:3000"
DEFAULT_AWS = "http://127.0.0.1:5005"
DEFAULT_TWILIO = "http://127.0.0.1:4010"
DEFAULT_FORWARD = "http://127.0.0.1:4020/webhooks/udm-bridge"


@dataclass(frozen=True)
class Endpoints:
    front: str = DEFAULT_FRONT
    aws: str = DEFAULT_AWS
    twilio: str = DEFAULT_TWILIO
    pid: int = 0
    forward: str = DEFAULT_FORWARD  # the demo CRM's webhook receiver: where call messages go
    console: str = ""  # the console's page, on loopback


def write(endpoints: Endpoints, path: Path | None = None) -> None:
    path = path or STATE_FILE
    path.parent.mkdir(exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(endpoints), indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)


def remove(pid: int, path: Path | None = None) -> None:
    """Removes the file only if it is still this process's (a newer stack may have replaced it)."""
    path = path or STATE_FILE
    found = _read(path)
    if found is not None and found.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def running(path: Path | None = None) -> Endpoints | None:
    """The running stack's endpoints, or None when no stack of this checkout is up."""
    found = _read(path or STATE_FILE)
    if found is None or not _alive(found.pid):
        return None
    return found


def endpoints(path: Path | None = None) -> Endpoints:
    """The running stack's endpoints, else the defaults."""
    return running(path) or Endpoints()


def _read(path: Path) -> Endpoints | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Endpoints(
            front=data["front"],
            aws=data["aws"],
            twilio=data["twilio"],
            pid=int(data["pid"]),
            forward=data.get("forward", DEFAULT_FORWARD),
            console=data.get("console", ""),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main() -> int:
    """`eval "$(.venv/bin/python -m local.state)"`: FRONT, AWS and TWILIO of the running stack, for curl."""
    found = endpoints()
    for name, url in (("FRONT", found.front), ("AWS", found.aws), ("TWILIO", found.twilio)):
        print(f"export {name}={url}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
