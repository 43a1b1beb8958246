"""``python -m benchmarks._timed_server [voicing-mcp arguments]``: the server, timing its ledger calls.

The replicas benchmark runs its servers through this wrapper to report the ledger's share of a tool call's
latency: every awaited method of the guard's ledger object is wrapped with a timer (whatever the backend,
SQLite or PostgreSQL), and the totals are written as JSON to ``$BENCH_LEDGER_TIMES/<pid>.json`` once a second
and at exit. Nothing else of the server changes.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import json
import os
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from voicing_mcp.guard import policy

#: seconds spent in ledger calls, and how many, by method name (this process)
TOTALS: dict[str, list[float]] = {}
_LOCK = threading.Lock()


def _timed(name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return await method(*args, **kwargs)
        finally:
            spent = time.perf_counter() - start
            with _LOCK:
                entry = TOTALS.setdefault(name, [0.0, 0.0])
                entry[0] += spent
                entry[1] += 1

    return wrapper


def _instrument() -> None:
    original = policy.DialGuard.__init__

    def init(self: policy.DialGuard, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        ledger = self.ledger
        for name in dir(type(ledger)):
            if name.startswith("_"):
                continue
            method = getattr(ledger, name, None)
            if method is not None and inspect.iscoroutinefunction(method):
                setattr(ledger, name, _timed(name, method))

    policy.DialGuard.__init__ = init  # type: ignore[method-assign]


def _dump(folder: Path) -> None:
    with _LOCK:
        data = {name: {"seconds": v[0], "calls": int(v[1])} for name, v in TOTALS.items()}
    tmp = folder / f".{os.getpid()}.json"
    tmp.write_text(json.dumps(data), encoding="utf-8")
    tmp.replace(folder / f"{os.getpid()}.json")


def main() -> int:
    folder = Path(os.environ["BENCH_LEDGER_TIMES"])
    _instrument()

    def every_second() -> None:
        while True:
            time.sleep(1)
            _dump(folder)

    threading.Thread(target=every_second, daemon=True).start()
    atexit.register(_dump, folder)
    from voicing_mcp.cli import main as cli_main  # noqa: PLC0415 (after the guard is instrumented)

    return cli_main()


if __name__ == "__main__":
    raise SystemExit(main())
