"""Shared fixtures for the end-to-end tests: start the real `trustformers` binary on a loopback
port, wait until its health service says SERVING, and stop it with a signal.

CTest sets TF_BINARY (the server binary), TF_PYTHON_STUBS (Python stubs generated at build time)
and TF_SOURCE_DIR; TRUSTFORMERS_HOME points at the models scripts/fetch-models.sh unpacked.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

sys.path.insert(0, os.environ["TF_PYTHON_STUBS"])

BINARY = os.environ["TF_BINARY"]
SOURCE_DIR = Path(os.environ["TF_SOURCE_DIR"])
DEFAULT_CONFIG = SOURCE_DIR / "config" / "default.yaml"


class Server:
    """One `trustformers serve` process, its stderr captured to a file."""

    def __init__(self, config_path, extra_args=(), env=None):
        self.workdir = Path(tempfile.mkdtemp(prefix="tf-e2e-"))
        self.port_file = self.workdir / "port"
        self.http_port_file = self.workdir / "http-port"
        self.log_path = self.workdir / "stderr.log"
        self._log = open(self.log_path, "wb")
        args = [BINARY, "serve", "--config", str(config_path), "--grpc-address", "127.0.0.1:0",
                "--port-file", str(self.port_file), "--http-address", "127.0.0.1:0",
                "--http-port-file", str(self.http_port_file), *extra_args]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self._log,
                                        env={**os.environ, **(env or {})})
        self.port = None
        self._http_port = None
        self._channel = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    @property
    def http_port(self):
        """The REST gateway's port (written before the gRPC port file)."""
        if self._http_port is None:
            self.wait_for_port()
            self._http_port = int(self.http_port_file.read_text())
        return self._http_port

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def channel(self):
        if self._channel is None:
            self._channel = grpc.insecure_channel(self.address)
        return self._channel

    def log(self):
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for_port(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.port_file.exists():
                self.port = int(self.port_file.read_text())
                return self.port
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log()}")
            time.sleep(0.02)
        raise AssertionError(f"server wrote no port file within {timeout}s:\n{self.log()}")

    def wait_serving(self, timeout=60.0):
        self.wait_for_port()
        stub = health_pb2_grpc.HealthStub(self.channel)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                response = stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log()}")
            time.sleep(0.05)
        raise AssertionError(f"server not SERVING within {timeout}s:\n{self.log()}")

    def signal(self, signo=signal.SIGTERM):
        self.process.send_signal(signo)

    def wait_exit(self, timeout=30.0):
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._log.flush()

    def close(self):
        if self._channel is not None:
            self._channel.close()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()


@pytest.fixture(scope="module")
def server():
    """One server with the default config for a test module (loading is not what it measures).
    A module that needs other settings defines its own `server`."""
    s = Server(DEFAULT_CONFIG)
    s.wait_serving(timeout=120)
    yield s
    s.close()


@pytest.fixture
def start_server():
    """Factory: start_server(config_path=DEFAULT_CONFIG, extra_args=(), env=None) -> Server."""
    servers = []

    def start(config_path=DEFAULT_CONFIG, extra_args=(), env=None):
        server = Server(config_path, extra_args, env)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def write_config(tmp_path):
    """write_config(text) -> path of a YAML file holding `text`."""
    counter = iter(range(1000))

    def write(text):
        path = tmp_path / f"config-{next(counter)}.yaml"
        path.write_text(text)
        return path

    return write


def run_cli(*args, timeout=30):
    """Runs the binary as a client; returns the CompletedProcess with text output."""
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=timeout)
