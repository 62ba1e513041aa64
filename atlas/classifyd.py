"""mapclassify, and scipy's correlations, in one process per host, not in every web worker.

mapclassify imports scipy, scikit-learn and numba when it is imported, and numba compiles Fisher-Jenks then:
about 230 MB in every process that imports it (docs/hosts.md, "Memory per worker"). The compare view's
correlations (``correlation``: scipy.stats' Pearson and Spearman, 60 MB more to import) are computed there too,
since that process has scipy already. Under gunicorn with
``ATLAS_CLASSIFIER=host`` (the default), the master starts one classification process (``Service``) before it
forks its workers, and each worker sends the values to classify and the scheme's parameters over a Unix socket
and gets the breaks back; the worker never imports mapclassify. Everywhere else (``python app.py``, the
pipeline, the CLI, tests; or ``ATLAS_CLASSIFIER=worker``) ``bins`` calls mapclassify in the process itself.

- **Only the arithmetic moves.** ``atlas/classify.py`` keeps every rule (input checks, samples, ties, notes):
  what crosses the socket is one mapclassify class name from ``CLASSES`` (or a computation from ``STATS``),
  its few numeric parameters and the values, and what comes back is that class's ``bins`` (or the
  computation's numbers), so the breaks are the same bits either way.
- **The wire** is ``multiprocessing.connection`` over a Unix socket in a folder only this user can open, with
  its HMAC challenge on a key the master draws at start and its workers inherit by fork (never in the
  environment or on a command line). Messages are bytes, never pickles: a JSON header checked against
  ``OPERATIONS`` and the values as little-endian float64; a message over ``MAX_MESSAGE_BYTES`` closes the
  connection.
- **Failure.** The master restarts the process when it exits. A worker that cannot reach it retries for
  ``CONNECT_WAIT`` seconds (a restart imports mapclassify: 2-4 s, more on a busy machine), then classifies
  in itself and says so in the log: a map is never refused because the classifier is down, at the cost of
  that worker's memory.
  Errors mapclassify raises (``ValueError``...) come back as the same exception type with its message.
- The process exits when its parent (the gunicorn master) does, killed or not.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import math
import numbers
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CLASSES", "MAX_MESSAGE_BYTES", "OPERATIONS", "STATS", "Service", "bins", "connected", "correlation", "use"]

log = logging.getLogger(__name__)

#: The mapclassify classes atlas/classify.py uses, with the parameters each may be given and their kinds.
CLASSES: dict[str, dict[str, str]] = {
    "Quantiles": {"k": "int"},
    "EqualInterval": {"k": "int"},
    "FisherJenks": {"k": "int"},
    "StdMean": {"multiples": "floats"},
    "HeadTailBreaks": {},
    "UserDefined": {"bins": "floats"},
}
#: scipy.stats' computations the process runs besides mapclassify's classes, with their parameters (none).
STATS: dict[str, dict[str, str]] = {
    "correlation": {},  # Pearson's r and Spearman's rho with their p-values, of two arrays sent one after the other
}
#: Everything a request may name.
OPERATIONS: dict[str, dict[str, str]] = {**CLASSES, **STATS}
#: Largest message either way: 4 million float64 values, 20 times the Output Areas of England and Wales.
MAX_MESSAGE_BYTES = 32 * 2**20
MAX_INT = 1000  # k, the classes asked: classify.py allows 3-9; this only keeps a hostile header cheap
MAX_FLOATS = 100  # multiples or typed breaks: at most 9 are ever sent
#: Seconds a worker waits for the process (it may be restarting) before it classifies in itself.
CONNECT_WAIT = 15.0

_READY = b"ready\n"

# Where this process's classification process listens, and its key: set in the gunicorn master by ``use``
# before the workers fork, so every worker has them; None: classify here.
_address: str | None = None
_authkey: bytes | None = None
_local = threading.local()
_fell_back = threading.Event()


class ProtocolError(ValueError):
    """A request the classification process will not run: the message says what was wrong."""


# --------------------------------------------------------------------------------------------------
# The arithmetic (in whichever process runs it)


def _run(name: str, y: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    if name == "correlation":
        return _correlation(y)
    import mapclassify  # noqa: PLC0415 - only in the process that classifies (see the module's docstring)

    # mapclassify warns (UserWarning) when it merges tied breaks, and numpy (RuntimeWarning) on a head/tail
    # mean of nothing; classify.py's notes say what matters to the user, so they would only be log noise.
    # catch_warnings is not thread-safe before Python 3.14: a race can at worst let a warning through.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(getattr(mapclassify, name)(y, **params).bins, dtype=np.float64)


def _correlation(y: np.ndarray) -> np.ndarray:
    """[r, p of r, rho, p of rho] of the two halves of ``y`` (scipy.stats' pearsonr and spearmanr)."""
    if len(y) % 2:
        raise ValueError(f"correlation takes two arrays of the same length, one after the other: got {len(y)} values")
    from scipy import stats  # noqa: PLC0415 - only in the process that computes (see the module's docstring)

    a, b = y[: len(y) // 2], y[len(y) // 2 :]
    with warnings.catch_warnings():  # constant or too short input: scipy warns and gives nan, which is returned
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        r, p = stats.pearsonr(a, b)
        rho, p_rho = stats.spearmanr(a, b)
    return np.array([r, p, rho, p_rho], dtype=np.float64)


def _checked(name: Any, params: Any) -> dict[str, Any]:
    """The parameters of a request, checked against OPERATIONS; ProtocolError names what was wrong."""
    if not isinstance(name, str) or name not in OPERATIONS:
        raise ProtocolError(f"unknown mapclassify class or computation {name!r}; valid: {', '.join(OPERATIONS)}")
    if not isinstance(params, dict) or set(params) != set(OPERATIONS[name]):
        raise ProtocolError(f"{name} takes exactly the parameters {sorted(OPERATIONS[name])}, got {params!r}")
    out: dict[str, Any] = {}
    for key, kind in OPERATIONS[name].items():
        value = params[key]
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= MAX_INT:
                raise ProtocolError(f"{name}: {key} must be a whole number from 1 to {MAX_INT}, got {value!r}")
            out[key] = int(value)
        else:
            if not (isinstance(value, (list, tuple)) and 0 < len(value) <= MAX_FLOATS
                    and all(isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
                            for v in value)):
                raise ProtocolError(f"{name}: {key} must be 1 to {MAX_FLOATS} finite numbers, got {value!r}")
            out[key] = [float(v) for v in value]
    return out


def bins(name: str, y: np.ndarray, **params: Any) -> np.ndarray:
    """``mapclassify.<name>(y, **params).bins`` as float64: in this host's classification process when this
    process has one (``use``), else here. Raises what mapclassify raises (ValueError...)."""
    if name not in CLASSES:
        raise ProtocolError(f"unknown mapclassify class {name!r}; valid: {', '.join(CLASSES)}")
    return _call(name, y, params)


def correlation(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, float]:
    """scipy.stats' Pearson r and Spearman rho of ``a`` and ``b`` with their two-sided p-values, as
    ``(r, p_r, rho, p_rho)``: in this host's classification process when this process has one (``use``),
    else here. ``a`` and ``b`` must be finite and of the same length (the caller chooses the areas)."""
    a = np.ascontiguousarray(a, dtype="<f8")
    b = np.ascontiguousarray(b, dtype="<f8")
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"correlation takes two arrays of the same length, got shapes {a.shape} and {b.shape}")
    r, p, rho, p_rho = (float(v) for v in _call("correlation", np.concatenate([a, b]), {}))
    return r, p, rho, p_rho


def _call(name: str, y: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    params = _checked(name, params)
    y = np.ascontiguousarray(y, dtype="<f8")
    if _address is None or _fell_back.is_set():
        return _run(name, y, params)
    header = json.dumps({"class": name, "params": params}).encode()
    deadline = time.monotonic() + CONNECT_WAIT
    while True:
        try:
            return _ask(header, y)
        except (OSError, EOFError) as exc:  # not there, restarting, or it closed on us: try again until deadline
            _drop()
            if time.monotonic() >= deadline:
                log.warning("the classification process at %s did not answer (%s): this worker now classifies "
                            "in itself (mapclassify and scipy imported here: about 230 MB more)", _address, exc)
                _fell_back.set()
                return _run(name, y, params)
            time.sleep(0.1)


def _ask(header: bytes, y: np.ndarray) -> np.ndarray:
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = Client(_address, family="AF_UNIX", authkey=_authkey)
    conn.send_bytes(header)
    conn.send_bytes(y.tobytes())
    answer = json.loads(conn.recv_bytes(MAX_MESSAGE_BYTES))
    if "error" in answer:
        kind = ProtocolError if answer["error"] == "ProtocolError" else getattr(builtins, answer["error"], None)
        if not (isinstance(kind, type) and issubclass(kind, Exception)):
            kind = RuntimeError
        raise kind(answer["message"])
    return np.frombuffer(conn.recv_bytes(MAX_MESSAGE_BYTES), dtype="<f8").astype(np.float64)


def _drop() -> None:
    conn = getattr(_local, "conn", None)
    _local.conn = None
    if conn is not None:
        with contextlib.suppress(OSError):
            conn.close()


def use(address: str | None, authkey: bytes | None) -> None:
    """Send this process's classifications to the process at ``address`` (None: classify here)."""
    global _address, _authkey
    _address, _authkey = address, authkey
    _fell_back.clear()
    _drop()


def connected() -> bool:
    """Whether this process sends its classifications to a classification process (and has not fallen back)."""
    return _address is not None and not _fell_back.is_set()


# --------------------------------------------------------------------------------------------------
# The classification process


def _serve_connection(conn: Connection) -> None:
    with conn:
        while True:
            try:
                raw = conn.recv_bytes(MAX_MESSAGE_BYTES)
                try:
                    header = json.loads(raw)
                    params = _checked(header.get("class"), header.get("params")) if isinstance(header, dict) else None
                    if params is None:
                        raise ProtocolError("the header must be a JSON object with class and params")
                except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError and ProtocolError are ValueErrors
                    conn.recv_bytes(MAX_MESSAGE_BYTES)  # the values that follow every header
                    conn.send_bytes(json.dumps({"error": "ProtocolError", "message": str(exc)}).encode())
                    continue
                data = conn.recv_bytes(MAX_MESSAGE_BYTES)
                if len(data) % 8:
                    conn.send_bytes(json.dumps({"error": "ProtocolError",
                                                "message": f"values must be float64: {len(data)} bytes"}).encode())
                    continue
                y = np.frombuffer(data, dtype="<f8")
                try:
                    out = _run(header["class"], y, params)
                except Exception as exc:  # noqa: BLE001 - whatever mapclassify raises goes back to the caller
                    conn.send_bytes(json.dumps({"error": _builtin_name(exc), "message": str(exc)}).encode())
                    continue
                conn.send_bytes(b'{"ok": true}')
                conn.send_bytes(out.astype("<f8").tobytes())
            except (EOFError, OSError):  # the worker went, or sent more than MAX_MESSAGE_BYTES
                return


def _builtin_name(exc: Exception) -> str:
    """The name of the nearest built-in exception class of ``exc`` (raised again under it in the worker)."""
    for kind in type(exc).__mro__:
        if getattr(builtins, kind.__name__, None) is kind:
            return kind.__name__
    return "RuntimeError"


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)  # the gunicorn master is gone (killed or stopped): so is its classification process


def main(argv: list[str] | None = None) -> None:
    """``python -m atlas.classifyd SOCKET``: the key is the first line of stdin (hex); prints ``ready`` when
    it listens and mapclassify is imported."""
    address = (argv or sys.argv[1:])[0]
    authkey = bytes.fromhex(sys.stdin.readline().strip())
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    _run("Quantiles", np.arange(10.0), {"k": 3})  # import and compile before the first worker asks
    _run("correlation", np.arange(8.0), {})
    listener = Listener(address, family="AF_UNIX", authkey=authkey, backlog=64)
    sys.stdout.buffer.write(_READY)
    sys.stdout.flush()
    while True:
        try:
            conn = listener.accept()
        except (OSError, EOFError, AuthenticationError) as exc:  # a wrong key, or a peer that went mid-handshake
            log.warning("classification process: refused a connection: %s", exc)
            continue
        threading.Thread(target=_serve_connection, args=(conn,), daemon=True).start()


class Service:
    """The classification process of this host, started and kept running by its parent (the gunicorn master).

    ``start`` spawns it and waits until it listens; a supervising thread starts it again if it exits; ``stop``
    ends it and removes its folder. ``address`` and ``authkey`` are what ``use`` needs."""

    def __init__(self, start_timeout: float = 120.0) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="atlas-classify-"))  # mode 0700: only this user connects
        self.address = str(self.folder / "socket")
        self.authkey = secrets.token_bytes(32)
        self.start_timeout = start_timeout
        self.restarts = 0
        self._proc: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._supervisor: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _spawn(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.address)  # a socket left by a process that died
        proc = subprocess.Popen(  # noqa: S603 - this interpreter, this module
            [sys.executable, "-m", "atlas.classifyd", self.address],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True,
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(self.authkey.hex().encode() + b"\n")
        proc.stdin.close()
        ready = _read_line(proc, self.start_timeout)
        if ready != _READY:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"the classification process did not start (exit code {proc.returncode}); "
                               "see its error above")
        proc.stdout.close()
        self._proc = proc

    def start(self) -> Service:
        with self._lock:
            self._spawn()
        self._supervisor = threading.Thread(target=self._supervise, name="atlas-classify-supervisor", daemon=True)
        self._supervisor.start()
        return self

    def _supervise(self) -> None:
        delay = 0.2
        while not self._stopping.is_set():
            proc = self._proc
            if proc is None:
                return
            code = proc.wait()
            if self._stopping.is_set():
                return
            log.warning("the classification process %s exited (code %s): starting it again", proc.pid, code)
            time.sleep(delay)
            try:
                with self._lock:
                    if self._stopping.is_set():
                        return
                    self._spawn()
                self.restarts += 1
                delay = 0.2
            except (OSError, RuntimeError) as exc:
                log.error("could not start the classification process again: %s", exc)
                delay = min(delay * 2, 30.0)

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            proc = self._proc
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def _read_line(proc: subprocess.Popen, timeout: float) -> bytes:
    """The process's first line of output, or b"" if it exits or says nothing within ``timeout`` seconds."""
    line: list[bytes] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return line[0] if line else b""


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main()
