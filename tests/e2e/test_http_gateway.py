"""The REST gateway's own behaviour through real sockets: the JSON mirror of the gRPC API equals
gRPC, operations routes, errors in the OpenAI shape, limits and timeouts, keep-alive, draining."""

import json
import socket
import time

import httpx
import pytest

from trustformers.v1 import inference_pb2, inference_pb2_grpc

from conftest import DEFAULT_CONFIG, Server

EMBEDDER = "all-minilm-l6-v2"
GENERATOR = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def server():
    # Small limits so the tests can reach them quickly; everything else is the default config.
    text = DEFAULT_CONFIG.read_text()
    text = text.replace("max_body_bytes: 16777216", "max_body_bytes: 65536")
    text = text.replace("header_timeout_s: 10", "header_timeout_s: 1")
    text = text.replace("idle_timeout_s: 60", "idle_timeout_s: 2")
    import tempfile
    from pathlib import Path
    folder = Path(tempfile.mkdtemp(prefix="tf-http-"))
    # Uploads (the 100-continue test) go to this run's own folder.
    text = text.replace('data_dir: ""', f"data_dir: {folder / 'fine-tuning'}")
    path = folder / "config.yaml"
    path.write_text(text)
    server = Server(path)
    server.wait_serving()
    yield server
    server.close()


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        yield http


def error_of(response):
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "models": {EMBEDDER: "ready", GENERATOR: "ready"}}


def test_mirror_embed_equals_grpc(server, client):
    texts = ["The cat sat on the mat.", "Ein Satz auf Deutsch."]
    got = client.post("/v1/trustformers/embed", json={"model": EMBEDDER, "inputs": texts})
    assert got.status_code == 200, got.text
    body = got.json()
    stub = inference_pb2_grpc.InferenceStub(server.channel)
    expected = stub.Embed(inference_pb2.EmbedRequest(model=EMBEDDER, inputs=texts), timeout=60)
    assert len(body["embeddings"]) == 2
    for mine, theirs in zip(body["embeddings"], expected.embeddings):
        assert mine["values"] == pytest.approx(list(theirs.values), abs=1e-6)
        assert mine["token_count"] == theirs.token_count
    assert body["usage"]["prompt_tokens"] == expected.usage.prompt_tokens


def test_mirror_accepts_camel_case_and_rejects_unknown_fields(client):
    ok = client.post("/v1/trustformers/tokenize",
                     json={"model": EMBEDDER, "text": "hello world", "returnTokens": True})
    assert ok.status_code == 200, ok.text
    assert ok.json()["tokens"] == ["[CLS]", "hello", "world", "[SEP]"]
    bad = client.post("/v1/trustformers/tokenize",
                      json={"model": EMBEDDER, "text": "hi", "return_tokenz": True})
    assert bad.status_code == 400
    assert "return_tokenz" in error_of(bad)["message"]


def test_mirror_detokenize_and_models(client):
    ids = client.post("/v1/trustformers/tokenize",
                      json={"model": GENERATOR, "text": "Hello there"}).json()["token_ids"]
    text = client.post("/v1/trustformers/detokenize", json={"model": GENERATOR, "token_ids": ids})
    assert text.json() == {"text": "Hello there"}
    models = client.get("/v1/trustformers/models").json()["models"]
    assert [m["name"] for m in models] == [EMBEDDER, GENERATOR]
    one = client.get(f"/v1/trustformers/models/{GENERATOR}").json()
    assert one["tasks"] == ["MODEL_TASK_GENERATE"] and one["state"] == "MODEL_STATE_READY"
    missing = client.get("/v1/trustformers/models/nope")
    assert missing.status_code == 404
    assert error_of(missing)["type"] == "not_found_error"


def test_mirror_generate_streams_events(client):
    request = {"model": GENERATOR, "prompt": "The capital of France is",
               "sampling": {"max_tokens": 6, "temperature": 0}, "include_usage": True}
    events = []
    with client.stream("POST", "/v1/trustformers/generate", json=request) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: "):]))
    assert len(events) >= 2
    assert events[-1]["finish_reason"] in ("FINISH_REASON_LENGTH", "FINISH_REASON_STOP")
    assert events[-1]["usage"]["completion_tokens"] == sum(len(e["token_ids"]) for e in events)
    assert "Paris" in "".join(e["text"] for e in events)


def test_refused_generate_gets_a_status_not_a_stream(client):
    response = client.post("/v1/trustformers/generate",
                           json={"model": GENERATOR, "prompt": "x",
                                 "sampling": {"temperature": -1}})
    assert response.status_code == 400
    assert "temperature" in error_of(response)["message"]
    wrong_task = client.post("/v1/trustformers/generate", json={"model": EMBEDDER, "prompt": "x"})
    assert wrong_task.status_code == 422


def test_malformed_json_names_the_position(client):
    response = client.post("/v1/trustformers/embed", content=b'{"model": "x", "inputs": [1,,2]}')
    assert response.status_code == 400
    message = error_of(response)["message"]
    assert "byte 29" in message and "line 1, column 29" in message


def test_unknown_route_and_method(client):
    missing = client.get("/v1/nothing")
    assert missing.status_code == 404 and error_of(missing)["type"] == "not_found_error"
    wrong = client.delete("/healthz")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET"


def test_body_over_the_limit_is_refused_unread(server, client):
    big = b'{"model": "x", "inputs": ["' + b"a" * 70000 + b'"]}'
    response = client.post("/v1/trustformers/embed", content=big)
    assert response.status_code == 413
    assert "65536" in error_of(response)["message"]
    # Chunked bodies have no length up front; they are cut at the limit while being read.
    response = client.post("/v1/trustformers/embed", content=iter([big[:40000], big[40000:]]))
    assert response.status_code == 413
    assert client.get("/healthz").status_code == 200


def test_keep_alive_serves_many_requests_on_one_connection(server):
    with socket.create_connection(("127.0.0.1", server.http_port)) as sock:
        for _ in range(3):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            reply = sock.recv(4096)
            assert reply.startswith(b"HTTP/1.1 200 OK")
        # Two pipelined requests are answered in order.
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        deadline = time.monotonic() + 10
        while data.count(b"HTTP/1.1") < 2 and time.monotonic() < deadline:
            data += sock.recv(4096)
        assert data.index(b"200 OK") < data.index(b"404 Not Found")


def test_slow_and_idle_clients_are_disconnected(server):
    # Headers trickling in for longer than header_timeout_s (1 s): the server hangs up.
    with socket.create_connection(("127.0.0.1", server.http_port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        started = time.monotonic()
        sock.settimeout(10)
        assert sock.recv(4096) == b""
        assert time.monotonic() - started < 5
    # A keep-alive connection with nothing to say for idle_timeout_s (2 s) is closed.
    with socket.create_connection(("127.0.0.1", server.http_port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(10)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert sock.recv(4096) == b""
        assert 1.5 < time.monotonic() - started < 6


def send_after_continue(server, path, headers, body):
    """Sends the headers with "Expect: 100-continue", the body only after the server's 100
    Continue, and returns the final response's bytes."""
    with socket.create_connection(("127.0.0.1", server.http_port)) as sock:
        sock.settimeout(30)
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                     f"Content-Length: {len(body)}\r\n{headers}\r\n".encode())
        interim = sock.recv(4096)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        reply = b""
        while b"\r\n\r\n" not in reply or len(reply.split(b"\r\n\r\n", 1)[1]) == 0:
            reply += sock.recv(65536)
        return reply


def test_expect_100_continue_on_buffered_and_streamed_routes(server):
    body = json.dumps({"model": EMBEDDER, "inputs": ["hello"]}).encode()
    reply = send_after_continue(server, "/v1/trustformers/embed",
                                "Content-Type: application/json\r\n", body)
    assert reply.startswith(b"HTTP/1.1 200")
    # /v1/files reads its body as it streams in.
    boundary = "b0undary"
    upload = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n"
              f"fine-tune\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
              f"filename=\"t.jsonl\"\r\nContent-Type: application/jsonl\r\n\r\n"
              f'{{"text": "a", "label": "x"}}\n\r\n--{boundary}--\r\n').encode()
    reply = send_after_continue(
        server, "/v1/files", f"Content-Type: multipart/form-data; boundary={boundary}\r\n", upload)
    assert reply.startswith(b"HTTP/1.1 200"), reply


def test_malformed_request_line_gets_400(server):
    with socket.create_connection(("127.0.0.1", server.http_port)) as sock:
        sock.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        sock.settimeout(10)
        assert sock.recv(4096).startswith(b"HTTP/1.1 400")


def test_draining_refuses_new_requests_and_finishes_running_ones(start_server, write_config):
    # A generous grace period: on a busy test machine the running stream may be slow.
    server = start_server(write_config(DEFAULT_CONFIG.read_text().replace(
        "shutdown_grace_period_s: 10", "shutdown_grace_period_s: 120")))
    server.wait_serving()
    request = {"model": GENERATOR, "prompt": "Count: 1, 2, 3,",
               "sampling": {"max_tokens": 16, "temperature": 0, "ignore_eos": True}}
    with httpx.Client(base_url=server.base_url, timeout=120) as http:
        with http.stream("POST", "/v1/trustformers/generate", json=request) as stream:
            lines = stream.iter_lines()
            first = next(line for line in lines if line.startswith("data: "))
            server.signal()
            time.sleep(0.3)
            with httpx.Client(base_url=server.base_url, timeout=10) as other:
                try:
                    refused = other.get("/readyz")
                    assert refused.status_code == 503
                except httpx.TransportError:
                    pass  # the listener may already be closed: also a refusal
            rest = [line for line in lines if line.startswith("data: ")]
        events = [json.loads(line[6:]) for line in [first, *rest]]
        assert events[-1]["finish_reason"] == "FINISH_REASON_LENGTH"
        assert sum(len(e["token_ids"]) for e in events) == 16
    assert server.wait_exit() == 0


def metric_value(text, sample):
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no sample {sample}")


def thread_count(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads line")


def test_many_idle_connections_and_waiting_streams_cost_no_threads(start_server):
    server = start_server()
    server.wait_serving()
    pid = server.process.pid
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        assert http.get("/readyz").status_code == 200
    before = thread_count(pid)
    body = json.dumps({"model": GENERATOR, "prompt": "Once upon a time",
                       "sampling": {"max_tokens": 400, "ignore_eos": True}}).encode()
    request = (b"POST /v1/trustformers/generate HTTP/1.1\r\nHost: x\r\n"
               b"Content-Type: application/json\r\n"
               + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    idle, streams = [], []
    try:
        for _ in range(300):
            idle.append(socket.create_connection(("127.0.0.1", server.http_port)))
        # Up to the batch limit run together, the rest wait in the queue; all have their headers.
        for _ in range(100):
            sock = socket.create_connection(("127.0.0.1", server.http_port))
            sock.sendall(request)
            streams.append(sock)
        for sock in streams:
            sock.settimeout(30)
            assert sock.recv(4096).startswith(b"HTTP/1.1 200 OK")
        during = thread_count(pid)
        with httpx.Client(base_url=server.base_url, timeout=60) as http:
            text = http.get("/metrics").text
        assert "trustformers_http_open_connections 401" in text
        model = '{model="smollm2-135m-instruct"}'
        running = metric_value(text, "trustformers_num_requests_running" + model)
        waiting = metric_value(text, "trustformers_num_requests_waiting" + model)
        assert running + waiting == 100 and 1 <= running <= 64, (running, waiting)
    finally:
        for sock in idle + streams:
            sock.close()
    assert during <= before + 2, (before, during)
    # The closed streams leave the queue: the engine is idle again.
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        while True:
            text = http.get("/metrics").text
            if ('trustformers_num_requests_waiting{model="smollm2-135m-instruct"} 0' in text and
                    'trustformers_num_requests_running{model="smollm2-135m-instruct"} 0' in text):
                break
            assert time.monotonic() < deadline, text
            time.sleep(0.05)


def test_broken_utf8_and_wrong_shapes_are_clear_400s(client):
    broken = client.post("/v1/trustformers/embed",
                         content=b'{"model": "all-minilm-l6-v2", "inputs": ["caf\xc3"]}')
    assert broken.status_code == 400
    assert "UTF-8" in error_of(broken)["message"]
    for body in (b"[1, 2]", b'"just a string"', b"", b"{}" * 3):
        response = client.post("/v1/chat/completions", content=body)
        assert response.status_code == 400, body
    wrong_type = client.post("/v1/chat/completions",
                             json={"model": GENERATOR, "messages": "hello"})
    assert wrong_type.status_code == 400
    assert error_of(wrong_type)["param"] == "messages"
    assert client.get("/healthz").status_code == 200
