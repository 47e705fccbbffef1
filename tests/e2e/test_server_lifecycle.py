"""The server's life: start, report health, answer Models, refuse what is not built yet, drain on
SIGTERM, exit 0, and refuse calls once gone."""

import json
import re
import signal
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from trustformers.v1 import inference_pb2, inference_pb2_grpc, models_pb2, models_pb2_grpc

from conftest import DEFAULT_CONFIG, run_cli


def test_lists_models_then_drains_and_exits_zero_on_sigterm(start_server):
    server = start_server()
    server.wait_serving()

    models = models_pb2_grpc.ModelsStub(server.channel)
    response = models.ListModels(models_pb2.ListModelsRequest(), timeout=5)
    by_name = {m.name: m for m in response.models}
    assert list(by_name) == ["all-minilm-l6-v2", "smollm2-135m-instruct"]

    minilm = by_name["all-minilm-l6-v2"]
    assert minilm.state == models_pb2.MODEL_STATE_READY
    assert minilm.format == models_pb2.MODEL_FORMAT_HF_SAFETENSORS
    assert minilm.architecture == "BertModel"
    assert list(minilm.tasks) == [models_pb2.MODEL_TASK_EMBED]
    assert minilm.memory_bytes == 90868376
    assert minilm.base_model and minilm.device == "cpu"

    smol = by_name["smollm2-135m-instruct"]
    assert smol.state == models_pb2.MODEL_STATE_READY
    assert smol.format == models_pb2.MODEL_FORMAT_GGUF
    assert list(smol.tasks) == [models_pb2.MODEL_TASK_GENERATE]
    assert smol.path.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert smol.architecture == "llama" and smol.max_context_tokens == 8192
    assert minilm.embedding_dimensions == 384 and minilm.max_context_tokens == 256
    assert minilm.parameter_count > 22_000_000

    assert models.GetModel(models_pb2.GetModelRequest(name="all-minilm-l6-v2"),
                           timeout=5).name == "all-minilm-l6-v2"

    server.signal(signal.SIGTERM)
    assert server.wait_exit(timeout=30) == 0
    log = server.log()
    assert "draining" in log and "stopped" in log

    with pytest.raises(grpc.RpcError) as error:
        models.ListModels(models_pb2.ListModelsRequest(), timeout=5)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE


def test_errors_carry_codes_and_messages(start_server):
    server = start_server()
    server.wait_serving()
    models = models_pb2_grpc.ModelsStub(server.channel)

    with pytest.raises(grpc.RpcError) as error:
        models.GetModel(models_pb2.GetModelRequest(name="gpt-17"), timeout=5)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    assert "gpt-17" in error.value.details()
    assert "all-minilm-l6-v2" in error.value.details()

    with pytest.raises(grpc.RpcError) as error:
        models.GetModel(models_pb2.GetModelRequest(), timeout=5)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    inference = inference_pb2_grpc.InferenceStub(server.channel)
    with pytest.raises(grpc.RpcError) as error:
        list(inference.Generate(inference_pb2.GenerateRequest(
            model="smollm2-135m-instruct", prompt="Hi",
            sampling=inference_pb2.SamplingParams(temperature=5)), timeout=5))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "temperature" in error.value.details()

    # Errors never take the server down.
    assert len(models.ListModels(models_pb2.ListModelsRequest(), timeout=5).models) == 2


def test_health_turns_not_serving_at_once_on_sigterm(start_server, write_config):
    config = write_config(DEFAULT_CONFIG.read_text().replace(
        "shutdown_grace_period_s: 10", "shutdown_grace_period_s: 2"))
    server = start_server(config)
    server.wait_serving()
    health = health_pb2_grpc.HealthStub(server.channel)
    watch = health.Watch(health_pb2.HealthCheckRequest(service="trustformers.v1.Models"))
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING

    sent = time.monotonic()
    server.signal(signal.SIGTERM)
    assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert time.monotonic() - sent < 1.0

    # The open Watch stream is a call in flight: the server waits for it at most the 2 s grace
    # period, then cancels it and exits 0.
    assert server.wait_exit(timeout=15) == 0
    assert time.monotonic() - sent < 10


def test_second_signal_exits_at_once(start_server, write_config):
    config = write_config(DEFAULT_CONFIG.read_text().replace(
        "shutdown_grace_period_s: 10", "shutdown_grace_period_s: 600"))
    server = start_server(config)
    server.wait_serving()
    health = health_pb2_grpc.HealthStub(server.channel)
    watch = health.Watch(health_pb2.HealthCheckRequest())
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING

    server.signal(signal.SIGTERM)
    assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
    time.sleep(0.5)
    assert server.process.poll() is None, "the first signal must drain, not exit"
    sent = time.monotonic()
    server.signal(signal.SIGINT)
    assert server.wait_exit(timeout=10) == 128 + signal.SIGINT
    assert time.monotonic() - sent < 5
    assert "second signal" in server.log()


def test_cli_clients_talk_to_the_server(start_server):
    server = start_server()
    server.wait_serving()

    health = run_cli("health", "--server", server.address)
    assert health.returncode == 0 and health.stdout.strip() == "SERVING"

    listed = run_cli("models", "--server", server.address)
    assert listed.returncode == 0, listed.stderr
    names = [m["name"] for m in json.loads(listed.stdout)["models"]]
    assert names == ["all-minilm-l6-v2", "smollm2-135m-instruct"]

    embed = run_cli("embed", "--server", server.address, "-m", "all-minilm-l6-v2", "hello")
    assert embed.returncode == 0, embed.stderr
    assert len(json.loads(embed.stdout)["embeddings"][0]["values"]) == 384

    generate = run_cli("generate", "--server", server.address, "-m", "smollm2-135m-instruct",
                       "--max-tokens", "4", "Hi")
    assert generate.returncode == 0, generate.stderr
    counts = re.search(r"\[(\d+) prompt \+ (\d+) generated tokens", generate.stderr)
    assert counts and 1 <= int(counts.group(2)) <= 4, generate.stderr

    version = run_cli("version")
    assert version.returncode == 0 and version.stdout.startswith("trustformers ")
    assert "device cpu:" in version.stdout


def test_cli_reports_an_unreachable_server():
    result = run_cli("health", "--server", "127.0.0.1:1", "--timeout", "2")
    assert result.returncode == 1
    assert "UNAVAILABLE" in result.stderr
