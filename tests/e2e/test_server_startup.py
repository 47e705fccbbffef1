"""Start-up failures: each stops the process with a message a user can act on, and a distinct
exit status (2 for configuration and usage errors, 1 for everything else)."""

import json
import socket
import subprocess

from conftest import BINARY, DEFAULT_CONFIG


def serve(config_path, *extra, timeout=30):
    return subprocess.run([BINARY, "serve", "--config", str(config_path),
                           "--grpc-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0",
                           *extra],
                          capture_output=True, text=True, timeout=timeout)


def test_unknown_key_names_file_line_and_key(write_config):
    path = write_config("server:\n  grpc_address: 127.0.0.1:0\n  max_message_size: 5\n")
    result = serve(path)
    assert result.returncode == 2
    assert f"{path}:3:3: server.max_message_size: unknown key" in result.stderr


def test_wrong_type_names_file_line_and_key(write_config):
    path = write_config("logging:\n  level: info\nserver:\n  shutdown_grace_period_s: soon\n")
    result = serve(path)
    assert result.returncode == 2
    assert f"{path}:4:28: server.shutdown_grace_period_s: expected a number, got 'soon'" \
        in result.stderr


def test_missing_config_file():
    result = serve("/nonexistent/config.yaml")
    assert result.returncode == 2
    assert "cannot read config file '/nonexistent/config.yaml'" in result.stderr


def test_missing_model_fails_startup_naming_it(write_config, tmp_path):
    path = write_config(f"model_dir: {tmp_path}\nmodels:\n  - name: ghost\n    path: nowhere\n")
    result = serve(path)
    assert result.returncode == 1
    assert "model 'ghost': model path" in result.stderr
    assert "does not exist" in result.stderr


def test_pickle_checkpoint_is_refused(write_config, tmp_path):
    model = tmp_path / "legacy"
    model.mkdir()
    (model / "config.json").write_text('{"architectures": ["BertModel"]}')
    (model / "pytorch_model.bin").write_bytes(b"\x80\x02}q\x00.")
    path = write_config(f"models:\n  - name: legacy\n    path: {model}\n")
    result = serve(path)
    assert result.returncode == 1
    assert "pickle checkpoint" in result.stderr and "arbitrary code" in result.stderr


def test_port_in_use_fails_startup(write_config):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([BINARY, "serve", "--config", str(DEFAULT_CONFIG),
                                 "--grpc-address", f"127.0.0.1:{port}",
                                 "--http-address", "127.0.0.1:0"],
                                capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert f"cannot listen for gRPC on '127.0.0.1:{port}'" in result.stderr


def test_bad_log_level_flag(write_config):
    result = serve(DEFAULT_CONFIG, "--log-level", "chatty")
    assert result.returncode == 2
    assert "unknown log level 'chatty'" in result.stderr


def test_json_log_lines(start_server, write_config):
    config = write_config(DEFAULT_CONFIG.read_text().replace("format: text", "format: json"))
    server = start_server(config)
    server.wait_serving()
    server.signal()
    assert server.wait_exit() == 0
    lines = [line for line in server.log().splitlines() if line.strip()]
    assert len(lines) >= 4
    records = [json.loads(line) for line in lines]
    assert all({"ts", "level", "logger", "thread", "msg"} <= record.keys() for record in records)
    assert any(r["msg"].startswith("serving 2 model(s)") for r in records)
    assert records[-1]["msg"] == "stopped"
