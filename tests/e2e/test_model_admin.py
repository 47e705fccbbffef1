"""Models.LoadModel and UnloadModel at run time against the real server: a model loaded under a new
name serves at once and is listed by ListModels and /v1/models; unloading it forgets the name at
once while calls in flight finish; configured base models refuse unloading without `force`; the
same over the JSON mirror and OpenAI's DELETE /v1/models/{id} (the openai SDK's models.delete)."""

import os
from pathlib import Path

import grpc
import httpx
import openai
import pytest

from trustformers.v1 import inference_pb2, inference_pb2_grpc, models_pb2, models_pb2_grpc

from conftest import DEFAULT_CONFIG

MODELS = Path(os.environ.get("TRUSTFORMERS_HOME",
                             Path.home() / ".cache" / "trustformers" / "models"))
MINILM = MODELS / "all-minilm-l6-v2"
SMOLLM = MODELS / "smollm2-135m-instruct" / "SmolLM2-135M-Instruct.Q4_1.gguf"
BASE_EMBEDDER = "all-minilm-l6-v2"
BASE_GENERATOR = "smollm2-135m-instruct"
TEXTS = ["Run-time loading works.", "A second sentence."]


@pytest.fixture(scope="module")
def models(server):
    return models_pb2_grpc.ModelsStub(server.channel)


@pytest.fixture(scope="module")
def inference(server):
    return inference_pb2_grpc.InferenceStub(server.channel)


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="unused", max_retries=0,
                         timeout=120)


def names(models):
    return [m.name for m in models.ListModels(models_pb2.ListModelsRequest(), timeout=10).models]


def rpc_error(call, *args, **kwargs):
    with pytest.raises(grpc.RpcError) as error:
        call(*args, **kwargs)
    return error.value


def embed(inference, model):
    response = inference.Embed(inference_pb2.EmbedRequest(model=model, inputs=TEXTS), timeout=60)
    return [list(e.values) for e in response.embeddings]


def test_load_embed_list_unload_over_grpc(models, inference, client):
    loaded = models.LoadModel(models_pb2.LoadModelRequest(name="minilm:copy-1", path=str(MINILM)),
                              timeout=120)
    assert loaded.name == "minilm:copy-1"
    assert loaded.state == models_pb2.MODEL_STATE_READY
    assert not loaded.base_model and loaded.parent_model == ""
    assert list(loaded.tasks) == [models_pb2.MODEL_TASK_EMBED]
    assert loaded.format == models_pb2.MODEL_FORMAT_HF_SAFETENSORS
    assert loaded.embedding_dimensions == 384 and loaded.device == "cpu"
    assert loaded.path == str(MINILM)

    # Served at once, with the same weights as the configured copy.
    assert embed(inference, "minilm:copy-1") == embed(inference, BASE_EMBEDDER)

    # Listed after the configured models, by gRPC and by the OpenAI route.
    assert names(models) == [BASE_EMBEDDER, BASE_GENERATOR, "minilm:copy-1"]
    got = models.GetModel(models_pb2.GetModelRequest(name="minilm:copy-1"), timeout=10)
    assert got.state == models_pb2.MODEL_STATE_READY
    assert [m.id for m in client.models.list().data] == [BASE_EMBEDDER, BASE_GENERATOR,
                                                        "minilm:copy-1"]
    assert client.models.retrieve("minilm:copy-1").id == "minilm:copy-1"

    unloaded = models.UnloadModel(models_pb2.UnloadModelRequest(name="minilm:copy-1"), timeout=10)
    assert unloaded.model.name == "minilm:copy-1"
    assert unloaded.model.state == models_pb2.MODEL_STATE_UNLOADING

    error = rpc_error(inference.Embed,
                      inference_pb2.EmbedRequest(model="minilm:copy-1", inputs=TEXTS), timeout=10)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "minilm:copy-1" in error.details()
    assert names(models) == [BASE_EMBEDDER, BASE_GENERATOR]
    error = rpc_error(models.GetModel, models_pb2.GetModelRequest(name="minilm:copy-1"), timeout=10)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    error = rpc_error(models.UnloadModel, models_pb2.UnloadModelRequest(name="minilm:copy-1"),
                      timeout=10)
    assert error.code() == grpc.StatusCode.NOT_FOUND

    # The name is free again.
    again = models.LoadModel(models_pb2.LoadModelRequest(name="minilm:copy-1", path=str(MINILM)),
                             timeout=120)
    assert again.state == models_pb2.MODEL_STATE_READY
    models.UnloadModel(models_pb2.UnloadModelRequest(name="minilm:copy-1"), timeout=10)


def test_load_refusals_name_the_problem(models, tmp_path):
    before = names(models)

    def refused(code, **fields):
        error = rpc_error(models.LoadModel, models_pb2.LoadModelRequest(**fields), timeout=60)
        assert error.code() == code, error.details()
        return error.details()

    assert "already exists" in refused(grpc.StatusCode.ALREADY_EXISTS, name=BASE_EMBEDDER,
                                       path=str(MINILM))
    assert str(tmp_path / "nowhere") in refused(grpc.StatusCode.NOT_FOUND, name="nowhere",
                                                path=str(tmp_path / "nowhere"))
    refused(grpc.StatusCode.INVALID_ARGUMENT, name="has space", path=str(MINILM))
    refused(grpc.StatusCode.INVALID_ARGUMENT, name="x" * 129, path=str(MINILM))
    refused(grpc.StatusCode.INVALID_ARGUMENT, name="", path=str(MINILM))
    refused(grpc.StatusCode.INVALID_ARGUMENT, name="no-path")
    pickle = tmp_path / "weights.pt"
    pickle.write_bytes(b"PK\x03\x04 not really a zip")
    assert "pickle" in refused(grpc.StatusCode.INVALID_ARGUMENT, name="pickle", path=str(pickle))
    folder = tmp_path / "no-weights"
    folder.mkdir()
    (folder / "config.json").write_text('{"architectures": ["BertModel"]}')
    assert str(folder) in refused(grpc.StatusCode.INVALID_ARGUMENT, name="no-weights",
                                  path=str(folder))
    assert "cannot serve generate" in refused(grpc.StatusCode.INVALID_ARGUMENT, name="gen",
                                              path=str(MINILM),
                                              tasks=[models_pb2.MODEL_TASK_GENERATE])
    # A refused load leaves nothing behind.
    assert names(models) == before


def test_base_models_are_protected(models, inference, client):
    error = rpc_error(models.UnloadModel, models_pb2.UnloadModelRequest(name=BASE_EMBEDDER),
                      timeout=10)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "base model" in error.details()
    error = rpc_error(models.UnloadModel, models_pb2.UnloadModelRequest(name="gpt-17"), timeout=10)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    error = rpc_error(models.UnloadModel, models_pb2.UnloadModelRequest(), timeout=10)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT

    # The same over OpenAI's DELETE: 422 for a base model, 404 for an unknown one.
    with pytest.raises(openai.UnprocessableEntityError) as refused:
        client.models.delete(BASE_EMBEDDER)
    assert "base model" in str(refused.value)
    with pytest.raises(openai.NotFoundError):
        client.models.delete("gpt-17")
    assert embed(inference, BASE_EMBEDDER)
    assert BASE_EMBEDDER in names(models)


def test_openai_delete_removes_a_loaded_model(models, client):
    models.LoadModel(models_pb2.LoadModelRequest(name="minilm-rest", path=str(MINILM)),
                     timeout=120)
    assert client.embeddings.create(model="minilm-rest", input="hello").data
    deleted = client.models.delete("minilm-rest")
    assert deleted.id == "minilm-rest" and deleted.deleted is True and deleted.object == "model"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("minilm-rest")
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="minilm-rest", input="hello")
    assert "minilm-rest" not in [m.id for m in client.models.list().data]


def test_json_mirror_loads_and_unloads(server, models):
    with httpx.Client(base_url=server.base_url, timeout=120) as http:
        loaded = http.post("/v1/trustformers/models",
                           json={"name": "minilm-mirror", "path": str(MINILM)})
        assert loaded.status_code == 200, loaded.text
        assert loaded.json()["state"] == "MODEL_STATE_READY"
        taken = http.post("/v1/trustformers/models",
                          json={"name": "minilm-mirror", "path": str(MINILM)})
        assert taken.status_code == 409
        unloaded = http.delete("/v1/trustformers/models/minilm-mirror")
        assert unloaded.status_code == 200, unloaded.text
        assert unloaded.json()["model"]["state"] == "MODEL_STATE_UNLOADING"
        assert http.delete("/v1/trustformers/models/minilm-mirror").status_code == 404
        assert http.delete(f"/v1/trustformers/models/{BASE_EMBEDDER}").status_code == 422
    assert "minilm-mirror" not in names(models)


def test_generation_in_flight_finishes_after_unload(models, inference):
    models.LoadModel(models_pb2.LoadModelRequest(name="smol:copy", path=str(SMOLLM)), timeout=120)
    stream = inference.Generate(inference_pb2.GenerateRequest(
        model="smol:copy", prompt="Once upon a time",
        sampling=inference_pb2.SamplingParams(temperature=0, max_tokens=128, ignore_eos=True)),
        timeout=120)
    messages = [next(stream)]
    models.UnloadModel(models_pb2.UnloadModelRequest(name="smol:copy"), timeout=10)
    # New requests no longer find it...
    error = rpc_error(lambda: list(inference.Generate(inference_pb2.GenerateRequest(
        model="smol:copy", prompt="Hi"), timeout=10)))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    # ... while the one in flight (128 tokens take most of a second here) runs to its end rather
    # than being cancelled by the engine's shutdown.
    rest = list(stream)
    assert len(rest) > 1
    messages += rest
    assert messages[-1].finish_reason == inference_pb2.FINISH_REASON_LENGTH
    assert sum(len(m.token_ids) for m in messages if not m.echo) == 128
    assert "smol:copy" not in names(models)


def test_admin_calls_need_the_api_key(start_server):
    key = "sk-admin-0123456789"
    server = start_server(DEFAULT_CONFIG, env={"TRUSTFORMERS_API_KEYS": key})
    server.wait_serving(timeout=120)
    stub = models_pb2_grpc.ModelsStub(server.channel)
    error = rpc_error(stub.LoadModel, models_pb2.LoadModelRequest(name="x", path=str(MINILM)),
                      timeout=10)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    error = rpc_error(stub.UnloadModel, models_pb2.UnloadModelRequest(name=BASE_EMBEDDER,
                                                                      force=True), timeout=10)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    metadata = [("authorization", f"Bearer {key}")]
    stub.LoadModel(models_pb2.LoadModelRequest(name="x", path=str(MINILM)), timeout=120,
                   metadata=metadata)
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        assert http.delete("/v1/models/x").status_code == 401
        deleted = http.delete("/v1/models/x", headers={"Authorization": f"Bearer {key}"})
        assert deleted.status_code == 200
        assert deleted.json() == {"id": "x", "object": "model", "deleted": True}
