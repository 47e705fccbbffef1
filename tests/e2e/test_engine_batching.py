"""The batching engine through the real server: concurrent requests get exactly the tokens they get
alone, cancelled or timed-out streams free their KV blocks, a full queue answers
RESOURCE_EXHAUSTED while admitted requests finish, requests that can never fit are refused at
once, and a repeated system prompt is served from the prefix cache."""

import threading
import time

import grpc
import httpx
import pytest

from trustformers.v1 import inference_pb2, inference_pb2_grpc

from conftest import DEFAULT_CONFIG, Server

MODEL = "smollm2-135m-instruct"
LABEL = '{model="smollm2-135m-instruct"}'


def metrics(server):
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        text = http.get("/metrics").text
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def wait_idle(server, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        m = metrics(server)
        if (m["trustformers_num_requests_running" + LABEL] == 0 and
                m["trustformers_num_requests_waiting" + LABEL] == 0 and
                m["trustformers_kv_cache_blocks_used" + LABEL] == 0):
            return m
        assert time.monotonic() < deadline, m
        time.sleep(0.02)


def request(prompt, max_tokens, **sampling):
    return inference_pb2.GenerateRequest(
        model=MODEL, prompt=prompt,
        sampling=inference_pb2.SamplingParams(max_tokens=max_tokens, ignore_eos=True,
                                              **sampling))


def token_ids(stub, message, timeout=300):
    return [t for m in stub.Generate(message, timeout=timeout) for t in m.token_ids]


@pytest.fixture(scope="module")
def stub(server):
    return inference_pb2_grpc.InferenceStub(server.channel)


def test_concurrent_requests_get_exactly_their_tokens_alone(server, stub):
    prompts = [("Count with me: " + " ".join(str(n) for n in range(i * 3)), 4 + (i * 7) % 21)
               for i in range(32)]
    requests = [request(p, n, temperature=0) if i % 4 else
                request(p, n, temperature=0.9, seed=i) for i, (p, n) in enumerate(prompts)]
    alone = [token_ids(stub, r) for r in requests]
    together = [None] * len(requests)

    def run(i):
        together[i] = token_ids(stub, requests[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, (mine, theirs) in enumerate(zip(together, alone)):
        assert mine == theirs, i
        assert len(mine) == prompts[i][1]
    m = wait_idle(server)
    assert m["trustformers_engine_steps_total" + LABEL] > 0
    assert m['trustformers_time_to_first_token_seconds_count' + LABEL] >= 64


def test_cancelled_stream_frees_its_blocks(server, stub):
    call = stub.Generate(request("Tell me everything about the sea.", 2000), timeout=120)
    received = 0
    for message in call:
        received += len(message.token_ids)
        if received >= 5:
            break
    busy = metrics(server)
    assert busy["trustformers_kv_cache_blocks_used" + LABEL] > 0
    call.cancel()
    wait_idle(server)


def test_a_100ms_deadline_stops_a_long_generation(server, stub):
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as stopped:
        token_ids(stub, request("Write a very long essay.", 4000), timeout=0.1)
    assert stopped.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 1.0
    # The engine sees the cancellation at its next step (slow only on a crowded test machine).
    wait_idle(server, timeout=20)


def test_requests_that_can_never_fit_are_refused_at_once(server, stub):
    for message, words in ((request("Hello", 100000), "max_tokens"),
                           (request("word " * 9000, 16), "prompt has")):
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as refused:
            token_ids(stub, message)
        assert time.monotonic() - started < 1.0
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert words in refused.value.details()


def test_a_repeated_system_prompt_is_computed_once(server, stub):
    system = "You are a meticulous assistant. " * 40
    before = metrics(server)["trustformers_prefix_cache_hits_total" + LABEL]
    for question in ("What is two plus two?", "Name a colour."):
        chat = inference_pb2.ChatMessages(messages=[
            inference_pb2.ChatMessage(role="system", content=system),
            inference_pb2.ChatMessage(role="user", content=question)])
        token_ids(stub, inference_pb2.GenerateRequest(
            model=MODEL, messages=chat, sampling=inference_pb2.SamplingParams(max_tokens=2)))
    after = metrics(server)["trustformers_prefix_cache_hits_total" + LABEL]
    # The system prompt spans about fifteen 16-token blocks; the second request reuses them.
    assert after - before >= 12


def test_full_queue_and_small_pool(start_server, write_config):
    config = write_config(DEFAULT_CONFIG.read_text()
                          .replace("max_running_sequences: 64", "max_running_sequences: 1")
                          .replace("max_queued_generate_requests: 256",
                                   "max_queued_generate_requests: 1")
                          .replace("kv_cache_mib: 512", "kv_cache_mib: 8")
                          .replace("max_choices: 16", "max_choices: 2"))
    server = start_server(config)
    server.wait_serving()
    stub = inference_pb2_grpc.InferenceStub(server.channel)
    running = stub.Generate(request("One", 60), timeout=120)
    first = next(running)
    waiting = stub.Generate(request("Two", 30), timeout=120)
    time.sleep(0.2)
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as full:
        token_ids(stub, request("Three", 5))
    assert full.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert time.monotonic() - started < 1.0
    assert len(first.token_ids) + sum(len(m.token_ids) for m in running) == 60
    assert sum(len(m.token_ids) for m in waiting) == 30
    # 8 MiB holds about 350 positions of this model: a request for more is refused, naming why.
    with pytest.raises(grpc.RpcError) as too_big:
        token_ids(stub, request("Hi", 1000))
    assert too_big.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "KV blocks" in too_big.value.details()
    with pytest.raises(grpc.RpcError) as too_many:
        token_ids(stub, request("Hi", 4, n=3))
    assert "limits.max_choices" in too_many.value.details()
