"""mapclassify in one process per host (atlas/classifyd.py; issue 20, item 4: memory per worker).

The breaks a worker gets from the host's classification process are the bits mapclassify gives in the worker
itself, for every scheme, on the publisher's values and on hostile ones, and so are the compare view's
correlations (scipy.stats, computed there too); the process refuses a wrong key and bad
messages and keeps serving; a killed process is started again and no classification fails meanwhile; it ends with
its parent; and under gunicorn a worker that has drawn maps holds none of mapclassify's libraries.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client
from pathlib import Path

import numpy as np
import psutil
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_support import first_answer, listening_socket, spawn_on

from atlas import classify, classifyd

ROOT = Path(__file__).resolve().parent.parent
KS102EW = "census2011/nomis_ks102ew_lsoa11_ew/bulk.csv"
MEAN_AGE = "Age: Mean Age; measures: Value"
CAMDEN = "E09000007"
# mapclassify's compiled and imported libraries: none of them may be mapped into a web worker.
HEAVY = ("/scipy/", "/sklearn/", "/llvmlite/", "/numba/")


@pytest.fixture(scope="module")
def service():
    started = classifyd.Service().start()
    yield started
    started.stop()


@pytest.fixture()
def remote(service):
    """This process sends its classifications to the service (as a gunicorn worker does)."""
    classifyd.use(service.address, service.authkey)
    yield service
    classifyd.use(None, None)


@pytest.fixture(scope="module")
def mean_age(raw_dir: Path) -> np.ndarray:
    """KS102EW mean age of every LSOA in England and Wales, as Nomis publishes it."""
    with open(raw_dir / KS102EW, newline="") as f:
        return np.array([float(row[MEAN_AGE]) for row in csv.DictReader(f)])


@pytest.fixture(scope="module")
def share_65_plus(raw_dir: Path) -> np.ndarray:
    """KS102EW residents aged 65 and over, as a share of all usual residents, per LSOA (Nomis's counts)."""
    old = ("Age: Age 65 to 74; measures: Value", "Age: Age 75 to 84; measures: Value",
           "Age: Age 85 to 89; measures: Value", "Age: Age 90 and over; measures: Value")
    with open(raw_dir / KS102EW, newline="") as f:
        return np.array([sum(float(row[c]) for c in old) / float(row["Age: All usual residents; measures: Value"])
                         for row in csv.DictReader(f)])


def _local(name: str, y: np.ndarray, **params) -> np.ndarray:
    classifyd.use(None, None)
    return classifyd.bins(name, y, **params)


def _every_scheme(values: np.ndarray) -> dict[str, dict]:
    out = {}
    for scheme in classify.SCHEMES:
        custom = [float(np.percentile(values, 30)), float(np.percentile(values, 80))]
        try:
            result = classify.classify(values, scheme, 5, custom_breaks=custom if scheme != "limits" else None,
                                       reference=None) if scheme != "limits" else None
        except classify.ClassifyError as exc:
            result = str(exc)
        out[scheme] = result.as_dict() if isinstance(result, classify.Classification) else result
    return out


def test_every_scheme_gives_the_same_classification_through_the_process(service, mean_age) -> None:
    rng = np.random.default_rng(7)
    samples = {"national": mean_age, "a district's LSOAs": rng.choice(mean_age, 180, replace=False),
               "a few": mean_age[:4], "ties": np.round(mean_age[:500])}
    here = {name: _every_scheme(values) for name, values in samples.items()}
    classifyd.use(service.address, service.authkey)
    try:
        there = {name: _every_scheme(values) for name, values in samples.items()}
        assert classifyd.connected()
    finally:
        classifyd.use(None, None)
    assert there == here
    # and the national Fisher-Jenks really was computed (a sample of 1,000 with 5 classes)
    assert len(there["national"]["fisher_jenks"]["breaks"]) == 5


def _here_and_there(service, compute) -> tuple[tuple, tuple]:
    """``compute()``'s outcome (its bytes, or its exception's type and message) in this process, then through
    the classification process."""

    def outcome() -> tuple:
        try:
            return ("value", compute())
        except Exception as exc:  # noqa: BLE001 - the same exception, of the same type, either way
            return ("error", type(exc).__name__, str(exc))

    classifyd.use(None, None)
    here = outcome()
    classifyd.use(service.address, service.authkey)
    try:
        there = outcome()
    finally:
        classifyd.use(None, None)
    return here, there


finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_subnormal=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(finite, min_size=1, max_size=60), k=st.integers(1, 9),
       name=st.sampled_from(["Quantiles", "EqualInterval", "FisherJenks", "HeadTailBreaks", "StdMean",
                             "UserDefined"]))
def test_hostile_values_give_the_same_bits_or_the_same_error(service, values, k, name) -> None:
    y = np.sort(np.array(values))
    params = {"Quantiles": {"k": k}, "EqualInterval": {"k": k}, "FisherJenks": {"k": k}, "HeadTailBreaks": {},
              "StdMean": {"multiples": [-2.0, -1.0, 1.0, 2.0][: max(1, k - 5)]},
              "UserDefined": {"bins": sorted({float(v) for v in values})[:k]}}[name]

    here, there = _here_and_there(service, lambda: classifyd.bins(name, y, **params).tobytes())
    assert there == here


def test_correlations_through_the_process_are_scipys(service, mean_age, share_65_plus) -> None:
    """The compare view's correlation of two Census 2011 variables over every LSOA, and over a district-sized
    sample, is what scipy.stats gives here, to the bit."""
    from scipy import stats

    rng = np.random.default_rng(5)
    pick = rng.choice(len(mean_age), 180, replace=False)
    pairs = [(mean_age, share_65_plus), (mean_age[pick], share_65_plus[pick]), (mean_age[:3], mean_age[3:6])]
    classifyd.use(service.address, service.authkey)
    try:
        there = [classifyd.correlation(a, b) for a, b in pairs]
        assert classifyd.connected()
    finally:
        classifyd.use(None, None)
    for (a, b), got in zip(pairs, there, strict=True):
        r, p = stats.pearsonr(a, b)
        rho, p_rho = stats.spearmanr(a, b)
        assert np.array(got).tobytes() == np.array([r, p, rho, p_rho]).tobytes()
    # older people and a higher mean age go together: a strong positive correlation, not noise
    assert there[0][0] > 0.8 and there[0][2] > 0.8


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=st.lists(st.tuples(finite, finite), min_size=0, max_size=40))
def test_hostile_pairs_give_the_same_correlation_or_the_same_error(service, pairs) -> None:
    a = np.array([p[0] for p in pairs], dtype=float)
    b = np.array([p[1] for p in pairs], dtype=float)

    # bytes: nan equals nan
    here, there = _here_and_there(service, lambda: np.array(classifyd.correlation(a, b)).tobytes())
    assert there == here


def test_bad_requests_are_refused_by_name_and_the_process_keeps_serving(service) -> None:
    with Client(service.address, family="AF_UNIX", authkey=service.authkey) as conn:
        for header, data, says in [
            (b"not json", b"", "Expecting value"),
            (b"[1, 2]", b"", "JSON object"),
            (json.dumps({"class": "KClassifiers", "params": {}}).encode(), b"", "unknown mapclassify class"),
            (json.dumps({"class": "Quantiles", "params": {"k": 10**9}}).encode(), b"", "whole number from 1"),
            (json.dumps({"class": "Quantiles", "params": {"k": 3, "x": 1}}).encode(), b"", "exactly the parameters"),
            (json.dumps({"class": "UserDefined", "params": {"bins": ["1"]}}).encode(), b"", "finite numbers"),
            (json.dumps({"class": "Quantiles", "params": {"k": 3}}).encode(), b"1234567", "float64"),
            (json.dumps({"class": "correlation", "params": {"k": 3}}).encode(), b"", "exactly the parameters"),
        ]:
            conn.send_bytes(header)
            conn.send_bytes(data)
            answer = json.loads(conn.recv_bytes())
            assert answer["error"] == "ProtocolError" and says in answer["message"], (header, answer)
        conn.send_bytes(json.dumps({"class": "Quantiles", "params": {"k": 4}}).encode())
        conn.send_bytes(np.arange(1.0, 9.0).tobytes())
        assert json.loads(conn.recv_bytes()) == {"ok": True}
        assert np.frombuffer(conn.recv_bytes()).tolist() == [2.75, 4.5, 6.25, 8.0]
        # a correlation needs its two arrays whole: an odd count is refused by name
        conn.send_bytes(json.dumps({"class": "correlation", "params": {}}).encode())
        conn.send_bytes(np.arange(5.0).tobytes())
        answer = json.loads(conn.recv_bytes())
        assert answer["error"] == "ValueError" and "same length" in answer["message"], answer
    # a message over the limit closes that connection only
    with Client(service.address, family="AF_UNIX", authkey=service.authkey) as conn:
        with pytest.raises((EOFError, OSError)):  # closed on reading the length: the send breaks, or the answer
            conn.send_bytes(b"x" * (classifyd.MAX_MESSAGE_BYTES + 1))
            conn.recv_bytes()
    # the wrong key is refused at the handshake
    with pytest.raises((AuthenticationError, EOFError, OSError)):
        Client(service.address, family="AF_UNIX", authkey=b"not the key" * 3)
    # the caller's own checks name a wrong request before anything is sent
    with pytest.raises(classifyd.ProtocolError, match="unknown mapclassify class"):
        classifyd.bins("MaxP", np.arange(5.0), k=3)
    with pytest.raises(classifyd.ProtocolError, match="unknown mapclassify class"):
        classifyd.bins("correlation", np.arange(6.0))
    with pytest.raises(ValueError, match="same length"):
        classifyd.correlation(np.arange(5.0), np.arange(4.0))
    classifyd.use(service.address, service.authkey)
    try:
        assert classifyd.bins("Quantiles", np.arange(1.0, 9.0), k=4).tolist() == [2.75, 4.5, 6.25, 8.0]
    finally:
        classifyd.use(None, None)


def test_the_socket_folder_is_private(service) -> None:
    assert (service.folder.stat().st_mode & 0o777) == 0o700


def test_threads_at_once_each_get_their_own_answer(remote, mean_age) -> None:
    rng = np.random.default_rng(11)
    jobs = [(rng.choice(mean_age, int(rng.integers(50, 3000)), replace=False), int(rng.integers(3, 10)))
            for _ in range(48)]
    expected = []
    classifyd.use(None, None)
    for y, k in jobs:
        expected.append(classifyd.bins("FisherJenks", np.sort(y), k=k).tolist())
    classifyd.use(remote.address, remote.authkey)
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda job: classifyd.bins("FisherJenks", np.sort(job[0]), k=job[1]).tolist(), jobs))
    assert got == expected
    assert classifyd.connected()


def test_a_killed_process_is_started_again_and_no_classification_fails() -> None:
    service = classifyd.Service().start()
    classifyd.use(service.address, service.authkey)
    try:
        y = np.arange(100.0)
        assert classifyd.bins("Quantiles", y, k=4).tolist() == [24.75, 49.5, 74.25, 99.0]
        first = service.pid
        os.kill(first, signal.SIGKILL)
        # asked at once: the caller waits for the new process rather than failing or falling back
        assert classifyd.bins("Quantiles", y, k=4).tolist() == [24.75, 49.5, 74.25, 99.0]
        assert classifyd.connected(), "fell back to classifying here although the process came back"
        assert service.pid != first and service.restarts == 1
    finally:
        classifyd.use(None, None)
        service.stop()
    assert not service.folder.exists()


def test_with_no_process_to_reach_the_caller_classifies_in_itself(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(classifyd, "CONNECT_WAIT", 0.3)
    classifyd.use(str(tmp_path / "nobody-listens"), b"k" * 32)
    try:
        assert classifyd.bins("EqualInterval", np.arange(11.0), k=5).tolist() == [2.0, 4.0, 6.0, 8.0, 10.0]
        assert not classifyd.connected()
    finally:
        classifyd.use(None, None)


def test_the_process_ends_with_its_parent(tmp_path) -> None:
    """A master killed outright (SIGKILL: no hook runs) leaves no classification process behind."""
    code = ("import sys, time; from atlas import classifyd; s = classifyd.Service().start(); "
            "print(s.pid, flush=True); time.sleep(600)")
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        child = psutil.Process(int(parent.stdout.readline()))
        assert child.is_running() and child.ppid() == parent.pid
    finally:
        parent.kill()
        parent.wait()
    child.wait(timeout=10)  # psutil.TimeoutExpired if it outlives its parent


def _mapped(process: psutil.Process) -> set[str]:
    return {m.path for m in process.memory_maps() if any(part in m.path for part in HEAVY)}


@pytest.mark.slow
def test_under_gunicorn_workers_draw_maps_without_mapclassify(atlas_env, tmp_path) -> None:
    from web import api

    here = api.standalone().test_client()  # this process classifies in itself: what the workers must match
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ATLAS_DATA_DIR": str(atlas_env), "ATLAS_TILES_URL": "",
           "ATLAS_CACHE_TYPE": "SimpleCache", "ATLAS_CLASSIFIER": "host"}
    log = open(tmp_path / "gunicorn.log", "w+")
    server, base = spawn_on(listening_socket(), lambda fd: [
        sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"fd://{fd}", "--workers", "2",
        "--threads", "2", "app:server"], env=env, stdout=log, stderr=log, cwd=ROOT)
    try:
        assert first_answer(base + "/healthz") == 200
        master = psutil.Process(server.pid)
        classifier = next(p for p in master.children() if "atlas.classifyd" in " ".join(p.cmdline()))
        workers = [p for p in master.children() if p.pid != classifier.pid]
        assert len(workers) == 2
        views = [f"/api/view.json?authority={place}&level=lsoa11&variable=ks102ew0018&scheme={scheme}&k=5"
                 for place in (CAMDEN, "E08000025", "all") for scheme in ("fisher_jenks", "quantiles", "head_tail")]

        def legend(path: str) -> list:
            answer = requests.get(base + path, timeout=120)
            assert answer.status_code == 200, (path, answer.text[:300])
            return answer.json()["legend"]["rows"]  # each class's printed range, count and colour

        with ThreadPoolExecutor(max_workers=6) as pool:
            served = list(pool.map(legend, views * 2))
        expected = [here.get(path).get_json()["legend"]["rows"] for path in views]
        assert served == expected * 2
        # the compare view of a district and of England and Wales, posted as the browser posts it: its
        # correlation is scipy's, computed in the classification process too
        sys.path.insert(0, str(ROOT / "bench"))
        import bench_memory  # the compare view posted as the browser posts it, as the memory bench does

        for place in (CAMDEN, "all"):
            answer = bench_memory.compare(base, f"compare:{place}:lsoa11:ks102ew0018:imd2019_imd_rank")
            assert answer.status_code == 200 and "Pearson r = " in answer.text, answer.text[:300]
        for worker in workers:
            assert _mapped(worker) == set(), f"worker {worker.pid} has mapclassify's or scipy's libraries"
        assert _mapped(classifier), "the classification process should hold them"
        # the classification process killed while maps are asked for: every map is still drawn, it comes back
        classifier.kill()
        six = [v.replace("k=5", "k=6") for v in views]
        with ThreadPoolExecutor(max_workers=6) as pool:
            again = list(pool.map(legend, six))
        assert again == [here.get(path).get_json()["legend"]["rows"] for path in six]
        deadline = time.monotonic() + 60
        while not [p for p in master.children() if "atlas.classifyd" in " ".join(p.cmdline())]:
            assert time.monotonic() < deadline, "the classification process was not started again"
            time.sleep(0.2)
        for worker in workers:
            assert _mapped(worker) == set()
    finally:
        server.terminate()
        server.wait(timeout=60)
    log.seek(0)
    text = log.read()
    assert "Traceback" not in text, text[-3000:]
    assert "classifies in itself" not in text, text[-3000:]
