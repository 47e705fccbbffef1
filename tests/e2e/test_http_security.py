"""API keys on both front ends, TLS (and client certificates) on both front ends, /metrics, and a
client that hangs up on an event stream freeing the engine."""

import json
import socket
import ssl
import subprocess
import time

import grpc
import httpx
import pytest

from trustformers.v1 import inference_pb2, inference_pb2_grpc

from conftest import DEFAULT_CONFIG

KEY = "test-key-0123456789"
EMBED = {"model": "all-minilm-l6-v2", "inputs": ["hello"]}


def metric(text, name, **labels):
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return None


def test_api_keys_guard_http_and_grpc(start_server):
    server = start_server(env={"TRUSTFORMERS_API_KEYS": f"{KEY},second-key-abcdef"})
    server.wait_serving()  # grpc.health.v1 stays open
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        missing = http.post("/v1/trustformers/embed", json=EMBED)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer" in missing.json()["error"]["message"]
        assert missing.json()["error"]["type"] == "authentication_error"
        wrong = http.post("/v1/trustformers/embed", json=EMBED,
                          headers={"Authorization": "Bearer nope-nope-nope"})
        assert wrong.status_code == 401 and "invalid API key" in wrong.json()["error"]["message"]
        for key in (KEY, "second-key-abcdef"):
            ok = http.post("/v1/trustformers/embed", json=EMBED,
                           headers={"Authorization": f"bearer {key}"})
            assert ok.status_code == 200, ok.text
        # Probes and scrapers carry no key.
        assert http.get("/healthz").status_code == 200
        assert http.get("/readyz").status_code == 200
        assert http.get("/metrics").status_code == 200

    stub = inference_pb2_grpc.InferenceStub(server.channel)
    request = inference_pb2.EmbedRequest(model="all-minilm-l6-v2", inputs=["hello"])
    with pytest.raises(grpc.RpcError) as refused:
        stub.Embed(request, timeout=30)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    response = stub.Embed(request, timeout=30, metadata=[("authorization", f"Bearer {KEY}")])
    assert len(response.embeddings) == 1


def test_keys_file_and_closed_operations(start_server, write_config, tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# team keys\n\n  {KEY}  \r\n")
    config = write_config(DEFAULT_CONFIG.read_text()
                          .replace('api_keys_file: ""', f"api_keys_file: {keys}")
                          .replace("open_health_and_metrics: true",
                                   "open_health_and_metrics: false"))
    server = start_server(config)
    server.wait_serving()
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        assert http.get("/metrics").status_code == 401
        assert http.get("/healthz", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


def test_unusable_keys_file_stops_startup(write_config, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing here\n")
    config = write_config(DEFAULT_CONFIG.read_text()
                          .replace('api_keys_file: ""', f"api_keys_file: {empty}"))
    from conftest import BINARY
    result = subprocess.run([BINARY, "serve", "--config", str(config), "--grpc-address",
                             "127.0.0.1:0", "--http-address", "127.0.0.1:0"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert str(empty) in result.stderr


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl."""
    folder = tmp_path_factory.mktemp("pki")

    def run(*args):
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.pem")
    for name, extension in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
                            ("client", "extendedKeyUsage=clientAuth")):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr")
        (folder / f"{name}.ext").write_text(extension + "\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem")
    return folder


def tls_config(write_config, pki, client_ca=False):
    text = (DEFAULT_CONFIG.read_text()
            .replace('cert_file: ""', f"cert_file: {pki / 'server.pem'}")
            .replace('key_file: ""', f"key_file: {pki / 'server.key'}"))
    if client_ca:
        text = text.replace('client_ca_file: ""', f"client_ca_file: {pki / 'ca.pem'}")
    return write_config(text)


def tls_context(pki, client_cert=False):
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if client_cert:
        context.load_cert_chain(str(pki / "client.pem"), str(pki / "client.key"))
    return context


def wait_ready_tls(server, **client_args):
    server.wait_for_port()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with httpx.Client(timeout=5, **client_args) as http:
                if http.get(f"https://127.0.0.1:{server.http_port}/readyz").status_code == 200:
                    return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("TLS server not ready:\n" + server.log())


def test_tls_on_http_and_grpc(start_server, write_config, certificates):
    server = start_server(tls_config(write_config, certificates))
    ca = tls_context(certificates)
    wait_ready_tls(server, verify=ca)
    with httpx.Client(verify=ca, timeout=60) as http:
        response = http.post(f"https://127.0.0.1:{server.http_port}/v1/trustformers/embed",
                             json=EMBED)
        assert response.status_code == 200
        assert len(response.json()["embeddings"][0]["values"]) == 384
    # Plain HTTP to the TLS port gets no answer.
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{server.http_port}/healthz", timeout=5)
    # An unknown CA is refused by the client.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"https://127.0.0.1:{server.http_port}/healthz", timeout=5)

    credentials = grpc.ssl_channel_credentials(root_certificates=(certificates / "ca.pem")
                                               .read_bytes())
    with grpc.secure_channel(f"127.0.0.1:{server.port}", credentials) as channel:
        stub = inference_pb2_grpc.InferenceStub(channel)
        reply = stub.Embed(inference_pb2.EmbedRequest(model="all-minilm-l6-v2", inputs=["hi"]),
                           timeout=60)
        assert len(reply.embeddings[0].values) == 384


def test_client_certificates_are_required_when_configured(start_server, write_config,
                                                          certificates):
    server = start_server(tls_config(write_config, certificates, client_ca=True))
    wait_ready_tls(server, verify=tls_context(certificates, client_cert=True))
    with pytest.raises(httpx.TransportError):
        with httpx.Client(verify=tls_context(certificates), timeout=5) as http:
            http.get(f"https://127.0.0.1:{server.http_port}/healthz")

    root = (certificates / "ca.pem").read_bytes()
    anonymous = grpc.ssl_channel_credentials(root_certificates=root)
    with grpc.secure_channel(f"127.0.0.1:{server.port}", anonymous) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            inference_pb2_grpc.InferenceStub(channel).Embed(
                inference_pb2.EmbedRequest(model="all-minilm-l6-v2", inputs=["hi"]), timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    identified = grpc.ssl_channel_credentials(
        root_certificates=root, private_key=(certificates / "client.key").read_bytes(),
        certificate_chain=(certificates / "client.pem").read_bytes())
    with grpc.secure_channel(f"127.0.0.1:{server.port}", identified) as channel:
        reply = inference_pb2_grpc.InferenceStub(channel).Embed(
            inference_pb2.EmbedRequest(model="all-minilm-l6-v2", inputs=["hi"]), timeout=60)
        assert len(reply.embeddings) == 1


def test_metrics_count_requests_of_both_front_ends(start_server):
    server = start_server()
    server.wait_serving()
    stub = inference_pb2_grpc.InferenceStub(server.channel)
    stub.Embed(inference_pb2.EmbedRequest(model="all-minilm-l6-v2", inputs=["a"]), timeout=60)
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        http.post("/v1/trustformers/embed", json=EMBED)
        http.post("/v1/trustformers/embed", json={"model": "nope", "inputs": ["x"]})
        text = http.get("/metrics").text
    assert "# TYPE trustformers_http_requests_total counter" in text
    assert metric(text, "trustformers_http_requests_total", method="POST",
                  route="/v1/trustformers/embed", status="200") == 1
    assert metric(text, "trustformers_http_requests_total", method="POST",
                  route="/v1/trustformers/embed", status="404") == 1
    # The gateway's own gRPC calls are not counted twice.
    assert metric(text, "trustformers_grpc_requests_total",
                  method="/trustformers.v1.Inference/Embed", code="OK") == 1
    assert metric(text, "trustformers_model_ready", model="smollm2-135m-instruct") == 1
    # The encoder's queue reports like the decoder's engine.
    assert metric(text, "trustformers_requests_finished_total", model="all-minilm-l6-v2") == 2
    assert metric(text, "trustformers_encoder_tokens_total", model="all-minilm-l6-v2") >= 6
    assert metric(text, "trustformers_num_requests_waiting", model="all-minilm-l6-v2") == 0
    assert metric(text, "trustformers_http_open_connections") >= 1


def test_client_that_hangs_up_frees_the_engine(start_server):
    server = start_server()
    server.wait_serving()
    body = json.dumps({"model": "smollm2-135m-instruct", "prompt": "Tell me a long story.",
                       "sampling": {"max_tokens": 2000, "ignore_eos": True}}).encode()
    with socket.create_connection(("127.0.0.1", server.http_port)) as sock:
        sock.sendall(b"POST /v1/trustformers/generate HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        received = b""
        while received.count(b"data: ") < 3:
            received += sock.recv(65536)
    # The socket is closed: the engine stops within a step or so.
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        deadline = time.monotonic() + 20
        while True:
            text = http.get("/metrics").text
            running = metric(text, "trustformers_num_requests_running",
                             model="smollm2-135m-instruct")
            finished = metric(text, "trustformers_requests_finished_total",
                              model="smollm2-135m-instruct")
            if running == 0 and finished == 1:
                break
            assert time.monotonic() < deadline, text
            time.sleep(0.02)
        generated = metric(text, "trustformers_generation_tokens_total",
                           model="smollm2-135m-instruct")
        assert 3 <= generated < 2000
        assert metric(text, "trustformers_http_requests_total", method="POST",
                      route="/v1/trustformers/generate", status="499") == 1
