"""One Lambda execution environment, as a process: `python -I -B bench/child.py CONFIG.json`.

It imports nothing outside the standard library before it has set `sys.path` to the built
artefacts (function dir, layer's python/, then the runtime's boto3), so what it measures is what
Lambda's Init phase does: import the handler module from read-only code without bytecode.

Lambda's handler owns stdout (Powertools logs there), so the child moves fd 1 to a log file and
writes its JSON result lines to a duplicate of the original stdout, which the parent reads.

Modes:
* cold:   init + first event, then one result line and exit.
* warm:   init + first event + warm-up, a "ready" line, then one result line per command read
          from stdin: {"cmd": "block", "events": N, "budget_s": S} or {"cmd": "exit"}.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import resource
import sys
import time
import traceback
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # typing stays unimported before Init, as it is in Lambda's bootstrap
    from collections.abc import Callable
    from typing import IO, Any

    Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

_FINDER_MODULES = ("_frozen_importlib", "_frozen_importlib_external")
INIT_DONE_MARKER = "bench-child: init done"


def sign(secret: str, event_id: str, timestamp: int, body: str) -> str:
    """Standard Webhooks v1 signature, from local/senders.py (the one sender-side implementation)."""
    signature: str = _senders().standard_webhooks_signature(secret, event_id, timestamp, body)
    return signature


_SENDERS: list[Any] = []


def _senders() -> Any:
    """local/senders.py, loaded by path on first use: after Init (the stdlib modules it needs, base64,
    hashlib and hmac, are the handler's by then) and outside sys.modules, so it is no foreign module."""
    if not _SENDERS:
        import importlib.util

        path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "local", "senders.py")
        spec = importlib.util.spec_from_file_location("bench_senders", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _SENDERS.append(module)
    return _SENDERS[0]


# -- isolation -----------------------------------------------------------------------------------------


class Allowed:
    """Where the child may import from: the code, the runtime dir, and the stdlib minus site-packages."""

    def __init__(self, code: list[str], stdlib: list[str]) -> None:
        self.code = [os.path.abspath(path) for path in code]
        self.stdlib = [os.path.abspath(path) for path in stdlib]

    def path(self, path: str) -> bool:
        if any(_under(path, root) for root in self.code):
            return True
        # The stdlib dir holds the interpreter's own site-packages: never allowed.
        return any(_under(path, root) and "site-packages" not in path[len(root) :] for root in self.stdlib)

    def module(self, module: Any) -> bool | None:
        """None for built-in and frozen modules; otherwise whether every file of it is allowed."""
        files = [getattr(module, "__file__", None), *(getattr(module, "__path__", None) or [])]
        paths = [os.path.abspath(path) for path in files if isinstance(path, str)]
        return all(self.path(path) for path in paths) if paths else None

    def foreign(self) -> list[str]:
        # __main__ (also aliased as __mp_main__) is this runner, in the role of Lambda's bootstrap.
        runner = sys.modules.get("__main__")
        modules = [(name, module) for name, module in list(sys.modules.items()) if module is not runner]
        return sorted(name for name, module in modules if self.module(module) is False)


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def isolate(code_paths: list[str], runtime: str) -> tuple[Allowed, list[str]]:
    """sys.path = code, runtime, stdlib. Returns what may be imported and what `site` had loaded."""
    stdlib = [path for path in sys.path if path and "site-packages" not in path and "dist-packages" not in path]
    sys.path[:] = [*code_paths, runtime, *stdlib]
    # `site` ran the venv's .pth files: an editable install's finder would map `bridge` to the checkout.
    sys.meta_path[:] = [finder for finder in sys.meta_path if getattr(finder, "__module__", "") in _FINDER_MODULES]
    sys.path_importer_cache.clear()
    allowed = Allowed([*code_paths, runtime], stdlib)
    dropped = allowed.foreign()
    for name in dropped:
        del sys.modules[name]
    importlib.invalidate_caches()
    return allowed, dropped


# -- Lambda's side ---------------------------------------------------------------------------------------


class Context:
    """The LambdaContext attributes Powertools reads, with a deadline that runs out."""

    def __init__(self, function_name: str, memory_mb: int, timeout_s: float) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "bench"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Events:
    """Fresh signed events from the parent's template: a new event ID and timestamp each time."""

    def __init__(self, template: dict[str, Any], secret: str) -> None:
        self._template = template
        self._secret = secret
        self._body = str(template["body"])

    def next(self) -> dict[str, Any]:
        event_id = "evt_bench_" + uuid.uuid4().hex
        now = time.time()
        headers = {
            **self._template["headers"],
            "webhook-id": event_id,
            "webhook-timestamp": str(int(now)),
            "webhook-signature": sign(self._secret, event_id, int(now), self._body),
        }
        request_context = {
            **self._template["requestContext"],
            "requestId": uuid.uuid4().hex[:16],
            "timeEpoch": int(now * 1000),
        }
        return {**self._template, "headers": headers, "requestContext": request_context}


class IoCounter:
    """Counts AWS API calls with botocore event hooks on every client the handler built."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.http_sends = 0
        self.consistent_reads = 0
        self.clients: list[str] = []
        self._intervals: list[list[float]] = []

    def install(self) -> int:
        from botocore.client import BaseClient  # the handler has imported it by now

        # The ingest function freezes what Init and its first event built, its clients included, and
        # gc.get_objects() leaves frozen objects out: thawed for the search, frozen again after it.
        frozen = gc.get_freeze_count()
        if frozen:
            gc.unfreeze()
        candidates = gc.get_objects()
        if frozen:
            gc.freeze()
        for candidate in candidates:
            if isinstance(candidate, BaseClient):
                events = candidate.meta.events
                events.register("before-parameter-build", self._on_params)
                events.register("before-call.dynamodb", self._on_before_call)
                events.register("after-call.dynamodb", self._on_after_call)
                events.register("after-call-error.dynamodb", self._on_after_call)
                events.register("before-send", self._on_send)
                self.clients.append(candidate.meta.service_model.service_name)
        return len(self.clients)

    def _on_params(self, event_name: str, params: dict[str, Any], **_kwargs: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        key = f"{service}.{operation}"
        self.calls[key] = self.calls.get(key, 0) + 1
        if service == "dynamodb" and params.get("ConsistentRead"):
            self.consistent_reads += 1

    def _on_before_call(self, **_: Any) -> None:
        self._intervals.append([time.perf_counter(), float("inf")])

    def _on_after_call(self, **_: Any) -> None:
        for interval in reversed(self._intervals):
            if interval[1] == float("inf"):
                interval[1] = time.perf_counter()
                break

    def _on_send(self, **_: Any) -> None:
        self.http_sends += 1

    def take_event(self) -> tuple[int, int]:
        """DynamoDB calls of the event just run, and how many of them were sequential round trips."""
        intervals = sorted(self._intervals)
        self._intervals = []
        sequential, end = 0, float("-inf")
        for start, stop in intervals:
            if start >= end:
                sequential += 1  # did not overlap the previous group: one more round trip in series
                end = stop
            else:
                end = max(end, stop)
        return len(intervals), sequential


# -- measurement -----------------------------------------------------------------------------------------


def _ms(nanoseconds: int) -> float:
    return nanoseconds / 1e6


def _peak_rss_kb() -> int:
    """This process's own peak RSS in KiB.

    ru_maxrss survives execve on Linux, so a child forked from a 100 MB parent starts with the
    parent's high-water mark; VmHWM belongs to the new address space only.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _origins(names: list[str], roots: dict[str, str]) -> dict[str, str]:
    """Which of the artefacts each named top-level module was imported from."""
    found = {}
    for name in names:
        module = sys.modules.get(name)
        path = os.path.abspath(getattr(module, "__file__", None) or "") if module else ""
        if module is not None:
            found[name] = next((label for label, root in roots.items() if _under(path, root)), "elsewhere")
    return found


def _profile_rows(profiler: Any, roots: dict[str, str], stdlib: list[str], top: int = 15) -> dict[str, Any]:
    """Self time by function and by package, with paths relative to the artefacts or the stdlib."""
    import pstats

    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    packages: dict[str, float] = {}
    functions = []
    for (path, line, name), (_, calls, self_s, cumulative_s, _) in stats.items():
        where, package = _locate(path, name, roots, stdlib)
        packages[package] = packages.get(package, 0.0) + self_s * 1000
        functions.append(
            {
                "function": f"{where}:{line}({name})" if where != "~" else name,
                "calls": calls,
                "self_ms": self_s * 1000,
                "cumulative_ms": cumulative_s * 1000,
            }
        )
    functions.sort(key=lambda row: row["self_ms"], reverse=True)
    return {
        "functions": functions[:top],
        "packages": sorted(packages.items(), key=lambda item: item[1], reverse=True)[:10],
    }


def _locate(path: str, name: str, roots: dict[str, str], stdlib: list[str]) -> tuple[str, str]:
    """A short place for a profiled function, and the package its time is charged to."""
    if path == "~":  # C functions: charge them to their module, e.g. _socket, posix, builtins
        if " of '" in name:  # "<method 'recv_into' of '_socket.socket' objects>"
            owner = name.split(" of '", 1)[1].split("'", 1)[0]
            return "~", owner.split(".", 1)[0] if "." in owner else "builtins"
        return "~", name.removeprefix("<built-in method ").split(".", 1)[0].strip("<>")
    if path.startswith("<frozen "):
        return path, "stdlib:" + path.removeprefix("<frozen ").split(".", 1)[0].strip(">")
    absolute = os.path.abspath(path)
    for root in roots.values():
        if _under(absolute, root):
            where = os.path.relpath(absolute, root)
            return where, where.split(os.sep, 1)[0].removesuffix(".py")
    for root in stdlib:
        if _under(absolute, root):
            where = os.path.relpath(absolute, root)
            return where, "stdlib:" + where.split(os.sep, 1)[0].removesuffix(".py")
    return path, "other"


def _invoke(handler: Handler, events: Events, config: dict[str, Any]) -> tuple[int, int, int, str]:
    """One event: wall ns, CPU ns, status code, body (for failures)."""
    event = events.next()
    context = Context(config["function_name"], int(config["memory_mb"]), float(config["timeout_s"]))
    cpu0, wall0 = time.process_time_ns(), time.perf_counter_ns()
    try:
        response = handler(event, context)
    except Exception:  # noqa: BLE001 - a crash is a measured failure, not the end of the run
        wall, cpu = time.perf_counter_ns() - wall0, time.process_time_ns() - cpu0
        return wall, cpu, -1, traceback.format_exc()[-2000:]
    wall, cpu = time.perf_counter_ns() - wall0, time.process_time_ns() - cpu0
    return wall, cpu, int(response.get("statusCode", -1)), str(response.get("body", ""))[:2000]


def run_block(
    handler: Handler, events: Events, config: dict[str, Any], counter: IoCounter, count: int, budget_s: float
) -> dict[str, Any]:
    expected = int(config["expect_status"])
    wall_ms: list[float] = []
    cpu_ms: list[float] = []
    dynamodb: list[int] = []
    sequential: list[int] = []
    failures: list[dict[str, Any]] = []
    calls_before, sends_before, consistent_before = dict(counter.calls), counter.http_sends, counter.consistent_reads
    deadline = time.monotonic() + budget_s
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        wall, cpu, status, body = _invoke(handler, events, config)
        calls, series = counter.take_event()
        wall_ms.append(_ms(wall))
        cpu_ms.append(_ms(cpu))
        dynamodb.append(calls)
        sequential.append(series)
        if status != expected and len(failures) < 5:
            failures.append({"status": status, "body": body})
        elif status != expected:
            failures.append({"status": status})
    return {
        "events": len(wall_ms),
        "wall_ms": wall_ms,
        "cpu_ms": cpu_ms,
        "dynamodb_calls": dynamodb,
        "dynamodb_sequential": sequential,
        "api_calls": {name: n - calls_before.get(name, 0) for name, n in counter.calls.items()},
        "http_sends": counter.http_sends - sends_before,
        "consistent_reads": counter.consistent_reads - consistent_before,
        "failures": len(failures),
        "failure_samples": failures[:5],
    }


def run(config: dict[str, Any], results: IO[str]) -> int:
    started_ms = (time.time() - float(config["spawned_at"])) * 1000
    allowed, dropped = isolate(list(config["code_paths"]), str(config["runtime"]))
    module_name, _, attribute = str(config["handler"]).rpartition(".")
    report: dict[str, Any] = {"subject": config["subject"], "mode": config["mode"], "startup_ms": started_ms}

    # Init: what Lambda does before the first invocation, importing the handler's module.
    cpu0, wall0 = time.process_time_ns(), time.perf_counter_ns()
    handler: Handler = getattr(importlib.import_module(module_name), attribute)
    report["init_ms"] = _ms(time.perf_counter_ns() - wall0)
    report["init_cpu_ms"] = _ms(time.process_time_ns() - cpu0)
    report["init_rss_kb"] = _peak_rss_kb()
    if config.get("profile_first"):
        # Splits -X importtime's output (also on stderr) into Init and first-event imports.
        sys.stderr.write(f"{INIT_DONE_MARKER}\n")
        sys.stderr.flush()

    events = Events(config["event"], str(config["webhook_secret"]))
    roots = {"function": config["code_paths"][0], "runtime": str(config["runtime"])}
    if len(config["code_paths"]) > 1:
        roots["layer"] = config["code_paths"][1]
    profiler = None
    if config.get("profile_first"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    wall, cpu, status, body = _invoke(handler, events, config)
    if profiler is not None:
        profiler.disable()
        report["first_event_profile"] = _profile_rows(profiler, roots, allowed.stdlib)
    report["runtime_origins"] = _origins(list(config.get("runtime_modules", [])), roots)
    report.update(first_ms=_ms(wall), first_cpu_ms=_ms(cpu), first_status=status, peak_rss_kb=_peak_rss_kb())
    report["ok"] = status == int(config["expect_status"])
    if not report["ok"]:
        report["first_body"] = body
    report["dropped_at_start"] = dropped
    report["foreign_modules"] = allowed.foreign()
    report["modules"] = len(sys.modules)

    if config["mode"] == "cold":
        results.write(json.dumps(report) + "\n")
        return 0 if report["ok"] else 1

    # Warm: warm-up events are not measured; the I/O hooks go on the clients they have built.
    warmup = run_block(handler, events, config, IoCounter(), int(config["warmup"]), float(config["budget_s"]))
    counter = IoCounter()
    report["hooked_clients"] = counter.install()
    report["clients"] = counter.clients
    report["warmup_failures"] = warmup["failures"]
    report["ok"] = report["ok"] and warmup["failures"] == 0
    results.write(json.dumps({"ready": True, **report}) + "\n")
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "exit":
            break
        profiler = None
        if command.get("profile"):
            import cProfile

            profiler = cProfile.Profile(time.process_time)  # CPU, the warm target, not waiting
            profiler.enable()
        block = run_block(handler, events, config, counter, int(command["events"]), float(command["budget_s"]))
        if profiler is not None:
            profiler.disable()
            block["profile"] = _profile_rows(profiler, roots, allowed.stdlib, top=20)
        results.write(json.dumps(block) + "\n")
    final = {"done": True, "peak_rss_kb": _peak_rss_kb(), "foreign_modules": allowed.foreign()}
    results.write(json.dumps(final) + "\n")
    return 0


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    sys.dont_write_bytecode = True  # Lambda's code is read-only; -B says the same, this makes sure
    results = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    log = os.open(config["log_path"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.close(log)
    try:
        return run(config, results)
    except Exception:  # noqa: BLE001 - the parent needs the reason on its result channel
        results.write(json.dumps({"ok": False, "error": traceback.format_exc()[-4000:]}) + "\n")
        return 1
    finally:
        sys.stdout.flush()
        results.flush()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
