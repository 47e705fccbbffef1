"""The OpenAI-compatible routes with the official `openai` Python SDK, pointed at the server by
changing only its base URL: models, chat completions and completions (whole and streamed), and
embeddings, each checked against what the gRPC API answers for the same request, plus one error
per HTTP status the SDK maps to its own exception."""

import base64
import struct
import time

import grpc
import httpx
import openai
import pytest

from trustformers.v1 import inference_pb2, inference_pb2_grpc

from conftest import DEFAULT_CONFIG, Server

EMBEDDER = "all-minilm-l6-v2"
GENERATOR = "smollm2-135m-instruct"
MESSAGES = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="unused", max_retries=0,
                         timeout=120)


@pytest.fixture(scope="module")
def stub(server):
    return inference_pb2_grpc.InferenceStub(server.channel)


def grpc_text(stub, **fields):
    sampling = fields.pop("sampling")
    request = inference_pb2.GenerateRequest(model=GENERATOR, sampling=sampling, **fields)
    return "".join(m.text for m in stub.Generate(request, timeout=120) if not m.echo)


def test_models_list_and_retrieve(client):
    models = client.models.list()
    assert [m.id for m in models.data] == [EMBEDDER, GENERATOR]
    assert all(m.object == "model" and m.owned_by for m in models.data)
    assert client.models.retrieve(GENERATOR).id == GENERATOR


def test_chat_completion_equals_grpc_greedy(client, stub):
    started = int(time.time())
    response = client.chat.completions.create(model=GENERATOR, messages=MESSAGES,
                                              temperature=0, max_tokens=24)
    assert response.object == "chat.completion"
    assert response.id.startswith("chatcmpl-")
    assert started - 1 <= response.created <= time.time() + 1
    assert response.model == GENERATOR
    choice = response.choices[0]
    assert choice.message.role == "assistant"
    assert choice.finish_reason in ("stop", "length")
    chat = inference_pb2.ChatMessages(messages=[inference_pb2.ChatMessage(**m) for m in MESSAGES])
    expected = grpc_text(stub, messages=chat,
                         sampling=inference_pb2.SamplingParams(temperature=0, max_tokens=24))
    assert choice.message.content == expected
    usage = response.usage
    assert usage.prompt_tokens > 10 and 0 < usage.completion_tokens <= 24
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_streamed_chat_equals_whole_and_ends_with_usage(client):
    whole = client.chat.completions.create(model=GENERATOR, messages=MESSAGES, temperature=0,
                                           max_tokens=24)
    chunks = list(client.chat.completions.create(model=GENERATOR, messages=MESSAGES,
                                                 temperature=0, max_tokens=24, stream=True,
                                                 stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == whole.choices[0].finish_reason
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert all(c.usage is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1


def test_sampling_options(client):
    kwargs = dict(model=GENERATOR, messages=MESSAGES, max_tokens=12, temperature=1.0, n=2,
                  seed=7)
    first = client.chat.completions.create(**kwargs)
    again = client.chat.completions.create(**kwargs)
    assert [c.index for c in first.choices] == [0, 1]
    assert [c.message.content for c in first.choices] == [c.message.content for c in
                                                          again.choices]
    # The newer max_completion_tokens; ignore_eos (an extension) travels in extra_body.
    capped = client.chat.completions.create(model=GENERATOR, messages=MESSAGES, temperature=0,
                                            max_completion_tokens=3,
                                            extra_body={"ignore_eos": True})
    assert capped.usage.completion_tokens == 3 and capped.choices[0].finish_reason == "length"
    stopped = client.chat.completions.create(model=GENERATOR, messages=MESSAGES, temperature=0,
                                             max_tokens=24, stop=[","])
    assert "," not in stopped.choices[0].message.content
    assert stopped.choices[0].finish_reason == "stop"


def test_logit_bias_and_logprobs(client, server):
    with httpx.Client(base_url=server.base_url) as http:
        token = http.post("/v1/trustformers/tokenize",
                          json={"model": GENERATOR, "text": " banana"}).json()["token_ids"]
    assert len(token) == 1
    forced = client.chat.completions.create(model=GENERATOR, messages=MESSAGES, max_tokens=4,
                                            temperature=0, logit_bias={str(token[0]): 100},
                                            logprobs=True, top_logprobs=2)
    assert forced.choices[0].message.content == " banana" * 4
    content = forced.choices[0].logprobs.content
    assert len(content) == 4
    for entry in content:
        assert entry.token == " banana" and entry.bytes == list(b" banana")
        assert entry.logprob <= 0 and len(entry.top_logprobs) == 2


def test_completion_equals_grpc_and_streams(client, stub):
    prompt = "The capital of France is"
    response = client.completions.create(model=GENERATOR, prompt=prompt, max_tokens=8,
                                         temperature=0)
    assert response.object == "text_completion"
    expected = grpc_text(stub, prompt=prompt,
                         sampling=inference_pb2.SamplingParams(temperature=0, max_tokens=8))
    assert response.choices[0].text == expected
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model=GENERATOR, prompt=prompt, max_tokens=8, temperature=0, stream=True) if c.choices)
    assert streamed == expected
    batch = client.completions.create(model=GENERATOR, prompt=[prompt, "One, two, three,"],
                                      max_tokens=4, temperature=0)
    assert sorted(c.index for c in batch.choices) == [0, 1]
    assert next(c for c in batch.choices if c.index == 0).text == expected[:len(
        next(c for c in batch.choices if c.index == 0).text)]
    echoed = client.completions.create(model=GENERATOR, prompt=prompt, max_tokens=2,
                                       temperature=0, echo=True, logprobs=1)
    assert echoed.choices[0].text.startswith(prompt)
    assert echoed.choices[0].logprobs.tokens[0] in prompt


def test_embeddings_equal_grpc_in_both_encodings(client, stub):
    texts = ["A cat sits on the mat.", "Where is the station?"]
    expected = stub.Embed(inference_pb2.EmbedRequest(model=EMBEDDER, inputs=texts), timeout=60)
    floats = client.embeddings.create(model=EMBEDDER, input=texts, encoding_format="float")
    assert [d.index for d in floats.data] == [0, 1]
    for mine, theirs in zip(floats.data, expected.embeddings):
        assert mine.embedding == pytest.approx(list(theirs.values), abs=1e-7)
    assert floats.usage.prompt_tokens == expected.usage.prompt_tokens
    # The SDK asks for base64 by default and decodes it; the raw body must hold float32 bytes.
    decoded = client.embeddings.create(model=EMBEDDER, input=texts[0])
    assert decoded.data[0].embedding == list(expected.embeddings[0].values)
    raw = client.embeddings.with_raw_response.create(model=EMBEDDER, input=texts[0],
                                                     encoding_format="base64")
    payload = raw.http_response.json()["data"][0]["embedding"]
    values = struct.unpack(f"<{384}f", base64.b64decode(payload))
    assert list(values) == list(expected.embeddings[0].values)


def test_each_error_status_raises_the_sdks_exception(client, server, start_server):
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model=GENERATOR, messages=MESSAGES, temperature=-1)
    assert bad.value.status_code == 400 and bad.value.param == "temperature"
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)
    assert "no-such-model" in missing.value.message
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model=EMBEDDER, messages=MESSAGES)
    with pytest.raises(openai.APIStatusError) as too_big:
        client.embeddings.create(model=EMBEDDER, input="word " * 4_000_000)
    assert too_big.value.status_code == 413
    with pytest.raises(openai.BadRequestError) as malformed:
        client.post("/chat/completions", cast_to=object, content=b'{"model": ')
    assert "line 1, column" in malformed.value.message

    locked = start_server(env={"TRUSTFORMERS_API_KEYS": "sk-test-0123456789"})
    locked.wait_serving()
    wrong = openai.OpenAI(base_url=f"{locked.base_url}/v1", api_key="sk-wrong-000000",
                          max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    right = openai.OpenAI(base_url=f"{locked.base_url}/v1", api_key="sk-test-0123456789",
                          max_retries=0)
    assert len(right.models.list().data) == 2


def test_a_full_queue_answers_429_with_retry_after(start_server, write_config):
    config = write_config(DEFAULT_CONFIG.read_text()
                          .replace("max_queued_generate_requests: 256",
                                   "max_queued_generate_requests: 1")
                          .replace("max_running_sequences: 64", "max_running_sequences: 1"))
    server = start_server(config)
    server.wait_serving()
    client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="x", max_retries=0,
                           timeout=120)
    long_request = dict(model=GENERATOR, messages=MESSAGES, max_tokens=200,
                        extra_body={"ignore_eos": True}, stream=True)
    # One request runs and one waits; the next is refused at once.
    running = client.chat.completions.create(**long_request)
    next(iter(running))
    waiting = client.chat.completions.create(**long_request)
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(**long_request)
    assert time.monotonic() - started < 1.0
    assert refused.value.response.headers["retry-after"] == "1"
    assert "queue is full" in refused.value.message
    # Admitted requests are not disturbed.
    assert sum(1 for c in running if c.choices) > 0
    assert sum(1 for c in waiting if c.choices) > 0


def test_a_draining_server_answers_503(start_server, write_config):
    # A generous grace period: on a busy test machine the running stream may be slow.
    server = start_server(write_config(DEFAULT_CONFIG.read_text().replace(
        "shutdown_grace_period_s: 10", "shutdown_grace_period_s: 120")))
    server.wait_serving()
    client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="x", max_retries=0,
                           timeout=120)
    stream = client.chat.completions.create(model=GENERATOR, messages=MESSAGES, max_tokens=16,
                                            extra_body={"ignore_eos": True}, stream=True)
    next(iter(stream))
    server.signal()
    time.sleep(0.3)
    with httpx.Client(base_url=server.base_url) as http:
        try:
            refused = http.post("/v1/chat/completions",
                                json={"model": GENERATOR, "messages": MESSAGES})
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            assert refused.json()["error"]["type"] == "server_error"
        except httpx.TransportError:
            pass  # the listener may already be closed: also a refusal
    assert sum(1 for c in stream if c.choices) > 0
    assert server.wait_exit() == 0
