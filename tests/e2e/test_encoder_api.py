"""Embed, Classify, Tokenize and Detokenize through the real server with grpcio, checked against
the PyTorch fixtures in tests/golden/bert (sentence-transformers embeddings, transformers logits)."""

import json
import math
import os
from pathlib import Path

import grpc
import pytest

from trustformers.v1 import common_pb2, inference_pb2, inference_pb2_grpc

from conftest import DEFAULT_CONFIG, SOURCE_DIR, run_cli

GOLDEN = SOURCE_DIR / "tests" / "golden" / "bert"
MODELS = Path(os.environ.get("TRUSTFORMERS_HOME",
                             Path.home() / ".cache" / "trustformers" / "models"))
EMBEDDINGS = json.loads((GOLDEN / "embeddings.json").read_text())["sentences"]
CLASSIFICATION = json.loads((GOLDEN / "classification.json").read_text())


def compare(got, expected):
    diff = max(abs(a - b) for a, b in zip(got, expected))
    dot = sum(a * b for a, b in zip(got, expected))
    cosine = dot / math.sqrt(sum(a * a for a in got) * sum(b * b for b in expected))
    return diff, cosine


@pytest.fixture(scope="module")
def server_factory(tmp_path_factory):
    # One server for the module: loading is not what these tests measure.
    from conftest import Server
    servers = []

    def start(config):
        server = Server(config)
        servers.append(server)
        server.wait_serving()
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture(scope="module")
def inference(server_factory):
    server = server_factory(DEFAULT_CONFIG)
    return inference_pb2_grpc.InferenceStub(server.channel)


@pytest.mark.parametrize("batch", [1, 32])
def test_embeddings_match_sentence_transformers(inference, batch):
    worst_diff, worst_cosine = 0.0, 1.0
    for start in range(0, len(EMBEDDINGS), batch):
        chunk = EMBEDDINGS[start:start + batch]
        response = inference.Embed(inference_pb2.EmbedRequest(
            model="all-minilm-l6-v2", inputs=[s["text"] for s in chunk]), timeout=120)
        assert len(response.embeddings) == len(chunk)
        for item, embedding in zip(chunk, response.embeddings):
            assert embedding.token_count == item["num_tokens"], item["text"][:60]
            diff, cosine = compare(embedding.values, item["embedding"])
            worst_diff, worst_cosine = max(worst_diff, diff), min(worst_cosine, cosine)
        assert response.usage.prompt_tokens == sum(s["num_tokens"] for s in chunk)
    print(f"batch {batch}: max |diff| {worst_diff:.2e}, min cosine {worst_cosine:.8f}")
    assert worst_diff <= 1e-4
    assert worst_cosine >= 0.99999


def test_embed_options(inference):
    text = EMBEDDINGS[3]["text"]
    plain = inference.Embed(inference_pb2.EmbedRequest(model="all-minilm-l6-v2", inputs=[text]),
                            timeout=30).embeddings[0].values
    assert math.isclose(sum(v * v for v in plain), 1.0, rel_tol=1e-5)
    raw = inference.Embed(inference_pb2.EmbedRequest(model="all-minilm-l6-v2", inputs=[text],
                                                     normalize=False), timeout=30)
    norm = math.sqrt(sum(v * v for v in raw.embeddings[0].values))
    assert norm > 1.01 or norm < 0.99
    assert max(abs(a / norm - b) for a, b in zip(raw.embeddings[0].values, plain)) < 1e-5
    short = inference.Embed(inference_pb2.EmbedRequest(model="all-minilm-l6-v2", inputs=[text],
                                                       dimensions=64), timeout=30)
    assert len(short.embeddings[0].values) == 64
    by_ids = inference.Embed(inference_pb2.EmbedRequest(
        model="all-minilm-l6-v2",
        input_token_ids=[inference_pb2.TokenIds(ids=EMBEDDINGS[3]["token_ids"])]), timeout=30)
    assert max(abs(a - b) for a, b in zip(by_ids.embeddings[0].values, plain)) < 1e-6
    cls = inference.Embed(inference_pb2.EmbedRequest(model="all-minilm-l6-v2", inputs=[text],
                                                     pooling=inference_pb2.POOLING_CLS),
                          timeout=30)
    assert max(abs(a - b) for a, b in zip(cls.embeddings[0].values, plain)) > 1e-3
    named = inference.Embed(inference_pb2.EmbedRequest(model="all-minilm-l6-v2", inputs=["x"],
                                                       request_id="abc-1"), timeout=30)
    assert named.request_id == "abc-1"


def test_truncation_and_errors(inference):
    long_text = " ".join(["word"] * 600)
    truncated = inference.Embed(inference_pb2.EmbedRequest(model="all-minilm-l6-v2",
                                                           inputs=[long_text]), timeout=30)
    assert truncated.embeddings[0].token_count == 256

    def error(request, method=inference.Embed):
        with pytest.raises(grpc.RpcError) as caught:
            method(request, timeout=30)
        return caught.value

    e = error(inference_pb2.EmbedRequest(model="all-minilm-l6-v2", inputs=["ok", long_text],
                                         truncation=common_pb2.TRUNCATION_NONE))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "input 1: the input has 602 tokens; the model accepts at most 256" in e.details()
    e = error(inference_pb2.EmbedRequest(model="no-such-model", inputs=["x"]))
    assert e.code() == grpc.StatusCode.NOT_FOUND
    e = error(inference_pb2.EmbedRequest(model="smollm2-135m-instruct", inputs=["x"]))
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION
    e = error(inference_pb2.EmbedRequest(model="all-minilm-l6-v2"))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    e = error(inference_pb2.EmbedRequest(model="all-minilm-l6-v2", inputs=["x"], dimensions=999))
    assert "dimensions 999 is outside [1, 384]" in e.details()
    e = error(inference_pb2.EmbedRequest(
        model="all-minilm-l6-v2", input_token_ids=[inference_pb2.TokenIds(ids=[101, 40000, 102])]))
    assert "token id 40000 at position 1" in e.details()
    e = error(inference_pb2.ClassifyRequest(model="all-minilm-l6-v2", inputs=["x"]),
              inference.Classify)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION
    # The server still serves after every error.
    assert len(inference.Embed(inference_pb2.EmbedRequest(model="all-minilm-l6-v2",
                                                          inputs=["still here"]),
                               timeout=30).embeddings) == 1


def test_zero_shot_classification_by_embedding_similarity(inference):
    labels = ["sports", "cooking", "finance"]
    response = inference.Classify(inference_pb2.ClassifyRequest(
        model="all-minilm-l6-v2", candidate_labels=labels,
        inputs=["The striker scored twice in the final minutes of the match.",
                "Whisk the eggs with sugar, then fold in the flour.",
                "The central bank raised interest rates by half a point."]), timeout=60)
    assert [c.labels[0].label for c in response.classifications] == labels
    first = response.classifications[0].labels
    assert [l.id for l in first][0] == 0
    assert all(-1.0 <= l.score <= 1.0 for l in first)
    assert first[0].score > first[1].score >= first[2].score
    # The score is the cosine of the two embeddings the Embed call returns.
    a = inference.Embed(inference_pb2.EmbedRequest(
        model="all-minilm-l6-v2", inputs=["The striker scored twice in the final minutes of the "
                                          "match.", "sports"]), timeout=30).embeddings
    cosine = sum(x * y for x, y in zip(a[0].values, a[1].values))
    assert abs(first[0].score - cosine) < 1e-5
    top = inference.Classify(inference_pb2.ClassifyRequest(
        model="all-minilm-l6-v2", candidate_labels=labels, inputs=["pasta recipe"], top_k=1),
        timeout=30)
    assert [l.label for l in top.classifications[0].labels] == ["cooking"]


def test_tokenize_and_detokenize(inference):
    item = EMBEDDINGS[1]
    response = inference.Tokenize(inference_pb2.TokenizeRequest(
        model="all-minilm-l6-v2", text=item["text"], return_tokens=True, return_offsets=True),
        timeout=30)
    assert list(response.token_ids) == item["token_ids"][:len(response.token_ids)]
    assert response.tokens[0] == "[CLS]" and response.tokens[-1] == "[SEP]"
    assert response.max_model_len == 256
    first_word = response.offsets[1]
    assert item["text"].encode()[first_word.start:first_word.end].lower() == \
        response.tokens[1].encode()
    text = inference.Detokenize(inference_pb2.DetokenizeRequest(
        model="all-minilm-l6-v2", token_ids=[101, 7592, 1010, 2088, 999, 102]), timeout=30).text
    assert text == "hello, world!"


def classifier_config(tmp_path, config_name="classifier_config.json"):
    folder = tmp_path / "classifier"
    folder.mkdir()
    (folder / "config.json").write_text((GOLDEN / config_name).read_text())
    (folder / "model.safetensors.index.json").write_text(
        (GOLDEN / "classifier_model.safetensors.index.json").read_text())
    (folder / "classifier_head.safetensors").write_bytes(
        (GOLDEN / "classifier_head.safetensors").read_bytes())
    (folder / "base.safetensors").symlink_to(MODELS / "all-minilm-l6-v2" / "model.safetensors")
    (folder / "tokenizer.json").write_text(
        (MODELS / "all-minilm-l6-v2" / "tokenizer.json").read_text())
    config = tmp_path / "classifier.yaml"
    config.write_text(f"models:\n  - name: sentiment\n    path: {folder}\n")
    return config


def test_classify_matches_transformers(server_factory, tmp_path_factory):
    server = server_factory(classifier_config(tmp_path_factory.mktemp("cls")))
    stub = inference_pb2_grpc.InferenceStub(server.channel)
    labels = CLASSIFICATION["id2label"]
    worst = 0.0
    for group in ("single_label", "pairs"):
        items = CLASSIFICATION[group]
        request = inference_pb2.ClassifyRequest(model="sentiment",
                                                inputs=[i["text"] for i in items])
        if group == "pairs":
            request.text_pairs.extend(i["text_pair"] for i in items)
        response = stub.Classify(request, timeout=120)
        assert len(response.classifications) == len(items)
        for item, result in zip(items, response.classifications):
            assert len(result.labels) == 3
            by_id = {label.id: label for label in result.labels}
            for i, logit in enumerate(item["logits"]):
                worst = max(worst, abs(by_id[i].logit - logit))
                assert by_id[i].label == labels[str(i)]
                assert abs(by_id[i].score - item["probabilities"][i]) < 1e-4
            scores = [label.score for label in result.labels]
            assert scores == sorted(scores, reverse=True)
    print(f"max |logit diff| {worst:.2e}")
    assert worst <= 1e-4
    top = stub.Classify(inference_pb2.ClassifyRequest(model="sentiment", inputs=["great"],
                                                      top_k=1), timeout=30)
    assert len(top.classifications[0].labels) == 1
    with pytest.raises(grpc.RpcError) as caught:
        stub.Classify(inference_pb2.ClassifyRequest(model="sentiment", inputs=["a", "b"],
                                                    text_pairs=["only one"]), timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_multi_label_models_score_with_sigmoid(server_factory, tmp_path_factory):
    config = classifier_config(tmp_path_factory.mktemp("multi"),
                               "classifier_multilabel_config.json")
    server = server_factory(config)
    stub = inference_pb2_grpc.InferenceStub(server.channel)
    items = CLASSIFICATION["multi_label"]
    response = stub.Classify(inference_pb2.ClassifyRequest(
        model="sentiment", inputs=[i["text"] for i in items]), timeout=120)
    for item, result in zip(items, response.classifications):
        by_id = {label.id: label for label in result.labels}
        for i, probability in enumerate(item["probabilities"]):
            assert abs(by_id[i].score - probability) < 1e-5
            assert abs(by_id[i].logit - item["logits"][i]) < 1e-4
        # Sigmoid scores are independent: they need not sum to one.
        assert abs(sum(l.score for l in result.labels) - 1.0) > 0.1


def test_one_process_cli_embed_and_classify(tmp_path):
    result = run_cli("embed", "-m", "all-minilm-l6-v2", EMBEDDINGS[0]["text"],
                     EMBEDDINGS[1]["text"], timeout=120)
    assert result.returncode == 0, result.stderr
    embeddings = json.loads(result.stdout)["embeddings"]
    assert len(embeddings) == 2
    for item, embedding in zip(EMBEDDINGS, embeddings):
        diff, _ = compare(embedding["values"], item["embedding"])
        assert diff <= 1e-4
    result = run_cli("classify", "--config", str(classifier_config(tmp_path)), "-m", "sentiment",
                     CLASSIFICATION["single_label"][0]["text"], timeout=120)
    assert result.returncode == 0, result.stderr
    labels = json.loads(result.stdout)["classifications"][0]["labels"]
    assert {l["label"] for l in labels} == {"negative", "neutral", "positive"}
    missing = run_cli("embed", "-m", "nope", "x")
    assert missing.returncode == 1 and "model 'nope' is not in" in missing.stderr


def test_hostile_requests_get_clear_errors_and_the_server_keeps_serving(server_factory):
    server = server_factory(DEFAULT_CONFIG)
    raw = server.channel.unary_unary(
        "/trustformers.v1.Inference/Embed", request_serializer=lambda b: b,
        response_deserializer=inference_pb2.EmbedResponse.FromString)
    good = inference_pb2.EmbedRequest(model="all-minilm-l6-v2", inputs=["hello"])

    # Bytes that are not UTF-8 in a string field: refused while parsing, before any handler.
    with pytest.raises(grpc.RpcError) as caught:
        raw(good.SerializeToString().replace(b"hello", b"he\xffl\xc3"), timeout=30)
    assert caught.value.code() != grpc.StatusCode.OK
    # Over the configured message size (16 MiB by default).
    with pytest.raises(grpc.RpcError) as caught:
        raw(inference_pb2.EmbedRequest(model="all-minilm-l6-v2",
                                       inputs=["x" * 20_000_000]).SerializeToString(), timeout=60)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # Too many inputs in one call.
    with pytest.raises(grpc.RpcError) as caught:
        raw(inference_pb2.EmbedRequest(model="all-minilm-l6-v2",
                                       inputs=["x"] * 5000).SerializeToString(), timeout=60)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "5000 inputs in one call; at most 2048" in caught.value.details()
    # A megabyte-sized input is tokenized and truncated, not refused.
    huge = raw(inference_pb2.EmbedRequest(model="all-minilm-l6-v2",
                                          inputs=["word " * 200_000]).SerializeToString(),
               timeout=120)
    assert huge.embeddings[0].token_count == 256
    assert len(raw(good.SerializeToString(), timeout=30).embeddings) == 1
