"""A real `glassbox serve` for the client tests.

Once per session: compile the three reference models of tests/data/sklearn
(digits_logreg, churn_coltrans_rf, friedman_dtree_reg) with the binary named
by GLASSBOX_BIN (default target/release/glassbox) into a temporary
directory, serve that directory on a free loopback port (REST and gRPC share
it), wait until /v2/health/ready answers 200, and stop the server with
SIGTERM at the end. Its log is printed in the summary when a test failed.

kserve and tritonclient.grpc cannot be imported into one process: both
register the `inference.*` protobuf messages (from grpc_predict_v2.proto and
grpc_service.proto) in protobuf's default pool, and the second import fails
with "duplicate symbol 'inference.ServerLiveRequest'". So a run over the
whole directory leaves test_kserve.py out and says so;
scripts/test-clients.sh runs it in a second pytest process
(`pytest tests/clients/test_kserve.py`).
"""

import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

import refdata

HERE = Path(__file__).resolve().parent
KSERVE_FILE = "test_kserve.py"
TRITON_GRPC_FILE = "test_triton_grpc.py"

_state = {"failed": False, "log": None, "left_out": None}


# ------------------------------------------------------- collection split


def _named(config, filename):
    """Whether a command-line argument names this file itself."""
    for arg in config.args:
        path = Path(arg.split("::")[0])
        if path.name == filename:
            return True
    return False


def pytest_configure(config):
    if _named(config, KSERVE_FILE) and _named(config, TRITON_GRPC_FILE):
        raise pytest.UsageError(
            f"{KSERVE_FILE} and {TRITON_GRPC_FILE} cannot run in one process "
            "(kserve and tritonclient.grpc both define the inference.* protobuf "
            "messages); run them in two pytest invocations"
        )


def pytest_ignore_collect(collection_path, config):
    """Of the two files, collect the one named on the command line; from a
    directory, tritonclient's unless it is --ignore'd."""
    name = collection_path.name
    if name == KSERVE_FILE and not _named(config, KSERVE_FILE):
        ignored = {Path(p).name for p in (config.getoption("ignore") or [])}
        if TRITON_GRPC_FILE in ignored:
            return None
        _state["left_out"] = KSERVE_FILE
        return True
    if name == TRITON_GRPC_FILE and _named(config, KSERVE_FILE) and not _named(config, TRITON_GRPC_FILE):
        _state["left_out"] = TRITON_GRPC_FILE
        return True
    return None


# ------------------------------------------------------------- the server


class Server:
    def __init__(self, proc, addr, log_path, models_dir):
        self.proc = proc
        self.addr = addr  # "127.0.0.1:PORT": tritonclient and gRPC targets
        self.url = f"http://{addr}"  # the REST base URL
        self.log_path = log_path
        self.models_dir = models_dir

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def _binary():
    path = Path(os.environ.get("GLASSBOX_BIN", "target/release/glassbox"))
    if not path.is_absolute():
        path = refdata.REPO / path
    if not path.is_file():
        pytest.exit(f"no glassbox binary at {path} (set GLASSBOX_BIN)", returncode=2)
    return path


def _get(url, timeout=2):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    binary = _binary()
    work = tmp_path_factory.mktemp("glassbox")
    models = work / "models"
    models.mkdir()
    for model in refdata.MODELS:
        src = refdata.SKLEARN
        cmd = [
            str(binary), "compile", str(src / f"{model}.onnx"),
            "--train", str(src / f"{model}.train.jsonl"),
            "-o", str(models / f"{model}.wasm"),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            pytest.exit(f"compile of {model} failed:\n{done.stdout}\n{done.stderr}", returncode=2)

    log_path = work / "serve.log"
    env = dict(os.environ)
    env.setdefault("GLASSBOX_CACHE_DIR", str(refdata.REPO / "target" / "clients" / "cache"))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(binary), "serve", str(models), "--listen", "127.0.0.1:0"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )
    srv = None
    try:
        addr = None
        deadline = time.monotonic() + 60
        while addr is None and time.monotonic() < deadline:
            m = re.search(r"listening on http://(\S+)", log_path.read_text(errors="replace"))
            if m:
                addr = m.group(1)
            elif proc.poll() is not None:
                break
            else:
                time.sleep(0.05)
        if addr is None:
            raise RuntimeError("glassbox serve printed no address")
        srv = Server(proc, addr, log_path, models)
        deadline = time.monotonic() + 180  # three components compile in child processes
        while _get(f"{srv.url}/v2/health/ready") != 200:
            if proc.poll() is not None:
                raise RuntimeError(f"glassbox serve exited with {proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("glassbox serve not ready after 180 s")
            time.sleep(0.1)
        for model in refdata.MODELS:
            if _get(f"{srv.url}/v2/models/{model}/ready") != 200:
                raise RuntimeError(f"model {model} is not ready")
    except Exception:
        proc.kill()
        proc.wait()
        _state["failed"] = True
        _state["log"] = log_path.read_text(errors="replace")
        raise

    yield srv

    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        _state["failed"] = True
    _state["log"] = srv.log() + f"\n[glassbox serve exit status {proc.returncode}]\n"


@pytest.fixture(scope="session")
def baseline(server):
    """Answers through the existing REST form (JSON, one tensor per feature,
    null for a missing value), fetched with the standard library only: what
    every other form and protocol must reproduce bit for bit.

    baseline(model, idx, numeric_datatype="FP64") -> {output: array}
    """
    cache = {}

    def get(model, idx, numeric_datatype="FP64"):
        key = (model, tuple(idx), numeric_datatype)
        if key not in cache:
            req = refdata.per_feature_request(model, idx, numeric_datatype)
            status, body = refdata.rest_json("POST", f"{server.url}/v2/models/{model}/infer", req)
            assert status == 200, f"baseline request failed: {status} {body}"
            cache[key] = refdata.rest_outputs(body)
            refdata.check_reference(model, idx, cache[key])
        return cache[key]

    return get


@pytest.fixture(scope="session")
def rest_error(server):
    """The REST error text for a request, to compare gRPC's message with."""

    def get(model, payload):
        status, body = refdata.rest_json("POST", f"{server.url}/v2/models/{model}/infer", payload)
        assert status >= 400, f"expected an error, got {status}"
        return status, body["error"]

    return get


# -------------------------------------------------------------- reporting


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        _state["failed"] = True


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _state["left_out"]:
        terminalreporter.write_sep(
            "-", f"{_state['left_out']} left out: it runs in a process of its own"
        )
        terminalreporter.write_line(
            "kserve and tritonclient.grpc cannot be imported together; run "
            f"`pytest {HERE.relative_to(refdata.REPO) / _state['left_out']}` "
            "(scripts/test-clients.sh runs both)"
        )
    if _state["failed"] and _state["log"] is not None:
        lines = _state["log"].splitlines()
        terminalreporter.write_sep("-", f"glassbox serve log (last {min(len(lines), 300)} lines)")
        for line in lines[-300:]:
            terminalreporter.write_line(line)
