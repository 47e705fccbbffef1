"""Starts `trustformers serve` for a benchmark on a free loopback gRPC port."""

import subprocess
import sys
import time


def start_serve(build, config, tmp, env=None):
    """Runs `trustformers serve --config CONFIG`, its gRPC port written under TMP; returns the
    process and its "127.0.0.1:PORT" once the port is known. Exits (stopping the server) if it
    does not start within 60 s."""
    port_file = tmp / "port"
    server = subprocess.Popen([str(build / "server" / "trustformers"), "serve", "--config",
                               str(config), "--grpc-address", "127.0.0.1:0", "--port-file",
                               str(port_file), "--log-level", "warn"], env=env)
    deadline = time.monotonic() + 60
    while not port_file.exists():
        if time.monotonic() > deadline or server.poll() is not None:
            server.terminate()
            sys.exit("trustformers serve did not start")
        time.sleep(0.05)
    return server, f"127.0.0.1:{port_file.read_text().strip()}"
