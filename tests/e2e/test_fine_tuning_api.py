"""The fine-tuning jobs service through the real server: over gRPC (UploadFile, CreateJob, WatchJob
to SUCCEEDED, then Classify with the new model) and over the official `openai` SDK (files.create,
fine_tuning.jobs.create/retrieve/list/list_events/checkpoints/cancel), plus the documented answer to
each bad input: a malformed JSON Lines line, a record without a label, an unknown label, an empty
file, an oversize or corrupted upload, an unknown base model or file, a base model that cannot be
trained, cancelling twice and cancelling a finished job. A restart keeps the jobs and serves the
fine-tuned model again.

Small on purpose (two cores): all-MiniLM-L6-v2 on tests/golden/bert_train/texts.jsonl (first 128
lines to train, last 32 to validate), one epoch in batches of 16, 48 tokens, a fixed seed."""

import hashlib
import json
import math
import time

import grpc
import httpx
import openai
import pytest

from trustformers.v1 import (fine_tuning_pb2 as ft, fine_tuning_pb2_grpc as ft_grpc,
                             inference_pb2, inference_pb2_grpc, models_pb2, models_pb2_grpc)

from fine_tuning_jobs import TERMINAL, wait_terminal
from conftest import SOURCE_DIR, Server

BASE = "all-minilm-l6-v2"
GGUF = "smollm2-135m-instruct"
LABELS = ["computing", "cooking", "sports", "weather"]
TEXTS = (SOURCE_DIR / "tests" / "golden" / "bert_train" / "texts.jsonl").read_bytes()
LINES = TEXTS.decode().splitlines(keepends=True)
TRAIN = "".join(LINES[:128]).encode()
VALIDATION = "".join(LINES[-32:]).encode()
MAX_FILE_BYTES = 4 * 1024 * 1024
BIG = TRAIN * (MAX_FILE_BYTES // len(TRAIN) + 1)  # just over the limit
HYPERPARAMETERS = dict(n_epochs=1, batch_size=16, max_seq_length=48, seed=7,
                       learning_rate_multiplier=6, logging_steps=2)
CONFIG = f"""
models:
  - name: {BASE}
    path: all-minilm-l6-v2
  - name: {GGUF}
    path: smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
fine_tuning:
  data_dir: {{data_dir}}
  max_file_bytes: {MAX_FILE_BYTES}
  train_threads: 2
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fine-tuning")


@pytest.fixture(scope="module")
def config_path(tmp_path_factory, data_dir):
    path = tmp_path_factory.mktemp("config") / "config.yaml"
    path.write_text(CONFIG.format(data_dir=data_dir))
    return path


@pytest.fixture(scope="module")
def server(config_path):
    s = Server(config_path)
    s.wait_serving(timeout=120)
    yield s
    s.close()


@pytest.fixture(scope="module")
def stub(server):
    return ft_grpc.FineTuningStub(server.channel)


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="unused", max_retries=0,
                         timeout=120)


def upload(stub, data, purpose=ft.FILE_PURPOSE_FINE_TUNE, filename="data.jsonl", chunk=4096,
           declare=True, sha256=None, timeout=30):
    def requests():
        metadata = ft.FileMetadata(filename=filename, purpose=purpose)
        if declare:
            metadata.size_bytes = len(data)
            metadata.sha256 = sha256 or hashlib.sha256(data).hexdigest()
        yield ft.UploadFileRequest(metadata=metadata)
        for at in range(0, len(data), chunk):
            yield ft.UploadFileRequest(chunk=data[at:at + chunk])
    return stub.UploadFile(requests(), timeout=timeout)


def rpc_error(call, *args, **kwargs):
    with pytest.raises(grpc.RpcError) as info:
        call(*args, timeout=30, **kwargs)
    return info.value


def watch(stub, job_id, after=0, follow=True, timeout=120):
    return list(stub.WatchJob(ft.WatchJobRequest(job_id=job_id, after_sequence=after,
                                                 follow=follow), timeout=timeout))


def create(stub, training_file, validation_file="", suffix="", **hyperparameters):
    h = dict(HYPERPARAMETERS, **hyperparameters)
    labels = h.pop("labels", [])
    request = ft.CreateJobRequest(base_model=BASE, training_file=training_file,
                                  validation_file=validation_file, suffix=suffix,
                                  hyperparameters=ft.Hyperparameters(**h))
    request.hyperparameters.labels.extend(labels)
    return stub.CreateJob(request, timeout=30)


def classify(server, model, texts):
    inference = inference_pb2_grpc.InferenceStub(server.channel)
    return inference.Classify(inference_pb2.ClassifyRequest(model=model, inputs=texts), timeout=30)


@pytest.fixture(scope="module")
def files(stub):
    train = upload(stub, TRAIN, filename="train.jsonl")
    validation = upload(stub, VALIDATION, ft.FILE_PURPOSE_FINE_TUNE_VALIDATION, "valid.jsonl")
    return train, validation


@pytest.fixture(scope="module")
def grpc_job(stub, files):
    """The gRPC run: created, then watched live to its end (events collected)."""
    train, validation = files
    job = create(stub, train.id, validation.id, suffix="grpc")
    events = watch(stub, job.id)
    return job, events


def test_upload_stores_and_describes_the_file(stub, files):
    train, validation = files
    assert train.id.startswith("file-") and train.id != validation.id
    assert train.filename == "train.jsonl"
    assert train.purpose == ft.FILE_PURPOSE_FINE_TUNE
    assert train.bytes == len(TRAIN)
    assert train.sha256 == hashlib.sha256(TRAIN).hexdigest()
    assert train.line_count == 128
    assert train.created_at.seconds > 0
    assert validation.purpose == ft.FILE_PURPOSE_FINE_TUNE_VALIDATION
    assert validation.line_count == 32
    assert stub.GetFile(ft.GetFileRequest(file_id=train.id), timeout=10) == train
    # Without size or checksum, in one 1 MiB chunk: the same bytes, the same digest.
    again = upload(stub, TRAIN, declare=False, chunk=1024 * 1024)
    assert again.sha256 == train.sha256 and again.id != train.id


def test_grpc_job_trains_to_succeeded_and_serves_the_model(server, stub, files, grpc_job):
    train, validation = files
    created, events = grpc_job
    assert created.id.startswith("ftjob-")
    assert created.state == ft.JOB_STATE_VALIDATING_FILES
    assert created.base_model == BASE and created.suffix == "grpc"
    assert created.task == ft.JOB_TASK_SEQUENCE_CLASSIFICATION
    assert created.training_file == train.id and created.validation_file == validation.id
    h = created.hyperparameters
    # The settings in effect: what was asked, and the documented defaults for the rest.
    assert (h.n_epochs, h.batch_size, h.max_seq_length, h.seed) == (1, 16, 48, 7)
    assert h.gradient_accumulation_steps == 1 and h.weight_decay == 0 and h.max_grad_norm == 1
    assert math.isclose(h.learning_rate, 3e-4) and h.learning_rate_multiplier == 6
    assert h.lr_scheduler == ft.LR_SCHEDULER_LINEAR
    assert created.seed == 7 and created.created_at.seconds > 0
    assert not created.HasField("started_at") and not created.HasField("finished_at")

    # Every event, in order, from the first; the stream ended after the terminal one.
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert all(e.job_id == created.id and e.created_at.seconds > 0 for e in events)
    changes = [(e.state_change.from_state, e.state_change.to_state) for e in events
               if e.WhichOneof("payload") == "state_change"]
    final = ft.JOB_STATE_SUCCEEDED
    assert changes == [(ft.JOB_STATE_UNSPECIFIED, ft.JOB_STATE_VALIDATING_FILES),
                       (ft.JOB_STATE_VALIDATING_FILES, ft.JOB_STATE_QUEUED),
                       (ft.JOB_STATE_QUEUED, ft.JOB_STATE_RUNNING),
                       (ft.JOB_STATE_RUNNING, final)]
    assert events[-1].state_change.to_state == final
    checked = [e.file_validation for e in events if e.WhichOneof("payload") == "file_validation"]
    assert [v.file_id for v in checked] == [train.id, validation.id]
    assert all(not v.issues for v in checked)
    steps = [e.training_step for e in events if e.WhichOneof("payload") == "training_step"]
    # 128 examples in batches of 16: 8 steps, logged every 2.
    assert [s.step for s in steps] == [2, 4, 6, 8]
    assert all(s.total_steps == 8 and math.isfinite(s.loss) and s.loss > 0 for s in steps)
    assert all(s.learning_rate > 0 and s.samples_per_second > 0 for s in steps)
    assert steps[-1].epoch == pytest.approx(1.0)
    evaluations = [e.evaluation for e in events if e.WhichOneof("payload") == "evaluation"]
    assert len(evaluations) == 1 and evaluations[0].step == 8
    metrics = evaluations[0].metrics
    assert set(metrics) >= {"loss", "accuracy", "macro_f1"}
    # Four balanced-ish classes start near ln 4; one epoch at 3e-4 learns most of them.
    assert metrics["loss"] < math.log(4) and metrics["accuracy"] >= 0.5
    saved = [e.checkpoint_saved for e in events if e.WhichOneof("payload") == "checkpoint_saved"]
    assert [c.step for c in saved] == [8]
    assert saved[0].metrics["train_loss"] > 0
    assert saved[0].metrics["eval_loss"] == pytest.approx(metrics["loss"])

    job = stub.GetJob(ft.GetJobRequest(job_id=created.id), timeout=10)
    assert job.state == final
    assert job.started_at.seconds >= job.created_at.seconds
    assert job.finished_at.seconds >= job.started_at.seconds
    assert not job.HasField("estimated_finish")
    assert job.progress.step == 8 and job.progress.total_steps == 8
    assert job.progress.epoch == pytest.approx(1.0)
    assert job.trained_tokens > 128
    assert [c.step for c in job.checkpoints] == [8]
    assert not job.HasField("error")
    assert job.fine_tuned_model == f"ft:{BASE}:grpc:{job.id}"

    # Served at once: listed, and Classify answers with the four labels.
    listed = models_pb2_grpc.ModelsStub(server.channel).ListModels(
        models_pb2.ListModelsRequest(), timeout=10).models
    model = {m.name: m for m in listed}[job.fine_tuned_model]
    assert model.state == models_pb2.MODEL_STATE_READY
    assert list(model.labels) == LABELS
    rows = [json.loads(line) for line in LINES[-32:]]
    result = classify(server, job.fine_tuned_model, [r["text"] for r in rows])
    assert result.model == job.fine_tuned_model
    assert all({s.label for s in c.labels} == set(LABELS) for c in result.classifications)
    predicted = [c.labels[0].label for c in result.classifications]
    accuracy = sum(p == r["label"] for p, r in zip(predicted, rows)) / len(rows)
    assert accuracy == pytest.approx(metrics["accuracy"])


def test_watch_replays_from_any_point(stub, grpc_job):
    created, events = grpc_job
    # Without follow: the stored events after the given sequence, then OK.
    assert watch(stub, created.id, follow=False) == events
    assert watch(stub, created.id, after=3, follow=False) == events[3:]
    assert watch(stub, created.id, after=len(events), follow=False) == []
    # With follow on a finished job: the rest, then the call ends at once.
    started = time.monotonic()
    assert watch(stub, created.id, after=len(events) - 1) == events[-1:]
    assert watch(stub, created.id, after=len(events)) == []
    assert time.monotonic() - started < 5
    e = rpc_error(lambda **kw: watch(stub, "ftjob-nope", **kw))
    assert e.code() == grpc.StatusCode.NOT_FOUND
    e = rpc_error(lambda **kw: watch(stub, created.id, after=-1, **kw))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_list_jobs_pages_newest_first(stub, grpc_job, files):
    created, _ = grpc_job
    second = create(stub, files[0].id, n_epochs=100)  # long: cancelled below
    stub.CancelJob(ft.CancelJobRequest(job_id=second.id), timeout=10)
    first_page = stub.ListJobs(ft.ListJobsRequest(page_size=1), timeout=10)
    assert [j.id for j in first_page.jobs] == [second.id] and first_page.next_page_token
    seen = [second.id]
    token = first_page.next_page_token
    while token:
        page = stub.ListJobs(ft.ListJobsRequest(page_size=1, page_token=token), timeout=10)
        seen += [j.id for j in page.jobs]
        token = page.next_page_token
    assert seen.index(second.id) < seen.index(created.id) and len(seen) == len(set(seen))
    cancelled = stub.ListJobs(ft.ListJobsRequest(states=[ft.JOB_STATE_CANCELLED]), timeout=10)
    assert second.id in [j.id for j in cancelled.jobs]
    assert created.id not in [j.id for j in cancelled.jobs]
    e = rpc_error(stub.ListJobs, ft.ListJobsRequest(states=[ft.JOB_STATE_UNSPECIFIED]))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    e = rpc_error(stub.ListJobs, ft.ListJobsRequest(page_token="forged"))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    e = rpc_error(stub.ListJobs, ft.ListJobsRequest(page_size=-1))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_openai_sdk_end_to_end(server, client, data_dir):
    train = client.files.create(file=("train.jsonl", TRAIN), purpose="fine-tune")
    assert train.object == "file" and train.purpose == "fine-tune"
    assert train.bytes == len(TRAIN) and train.filename == "train.jsonl"
    validation = client.files.create(file=("valid.jsonl", VALIDATION), purpose="fine-tune")
    assert client.files.retrieve(train.id).bytes == len(TRAIN)

    job = client.fine_tuning.jobs.create(
        model=BASE, training_file=train.id, validation_file=validation.id, seed=7,
        suffix="sdk", metadata={"team": "search"},
        hyperparameters={"n_epochs": 1, "batch_size": 16, "learning_rate_multiplier": 6,
                         "max_seq_length": 48})
    assert job.object == "fine_tuning.job" and job.status == "validating_files"
    assert job.model == BASE and job.seed == 7 and job.metadata == {"team": "search"}
    assert job.hyperparameters.n_epochs == 1 and job.hyperparameters.batch_size == 16
    assert job.hyperparameters.learning_rate_multiplier == 6
    assert job.fine_tuned_model is None and job.finished_at is None

    deadline = time.monotonic() + 120
    while job.status not in ("succeeded", "failed", "cancelled"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
        job = client.fine_tuning.jobs.retrieve(job.id)
    assert job.status == "succeeded", job
    assert job.finished_at >= job.created_at and job.trained_tokens > 0

    events = client.fine_tuning.jobs.list_events(job.id, limit=100).data
    assert all(e.object == "fine_tuning.job.event" for e in events)
    assert events[0].data["to"] == job.status  # newest first
    assert events[-1].message == "job created; validating files"
    assert [e.created_at for e in events] == sorted((e.created_at for e in events), reverse=True)
    metrics = [e for e in events if e.type == "metrics"]
    assert any("train_loss" in e.data for e in metrics)
    assert any("valid_loss" in e.data for e in metrics)
    # Pages: `after` is the last event of the previous page.
    page = client.fine_tuning.jobs.list_events(job.id, limit=3)
    assert [e.id for e in page.data] == [e.id for e in events[:3]] and page.has_more
    rest = client.fine_tuning.jobs.list_events(job.id, after=page.data[-1].id, limit=100)
    assert [e.id for e in rest.data] == [e.id for e in events[3:]] and not rest.has_more

    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert [c.step_number for c in checkpoints] == [8]
    assert checkpoints[0].object == "fine_tuning.job.checkpoint"
    assert checkpoints[0].fine_tuning_job_id == job.id
    assert checkpoints[0].metrics.train_loss > 0 and checkpoints[0].metrics.valid_loss > 0

    listed = client.fine_tuning.jobs.list(limit=100).data
    assert listed[0].id == job.id
    assert [j.id for j in client.fine_tuning.jobs.list(after=listed[0].id, limit=100).data] == \
        [j.id for j in listed[1:]]

    # Cancelling an ended job returns it unchanged.
    assert client.fine_tuning.jobs.cancel(job.id).status == job.status

    assert job.fine_tuned_model == f"ft:{BASE}:sdk:{job.id}"
    assert job.fine_tuned_model in [m.id for m in client.models.list().data]
    result = classify(server, job.fine_tuned_model, ["The oven was preheated for the bread."])
    assert result.classifications[0].labels[0].label in LABELS

    # Deleting the fine-tuned model deletes its folder: a restart does not serve it again.
    folder = data_dir / "jobs" / job.id / "model"
    assert (folder / "model.safetensors").is_file()
    assert client.models.delete(job.fine_tuned_model).deleted
    assert job.fine_tuned_model not in [m.id for m in client.models.list().data]
    assert not folder.exists()
    with pytest.raises(openai.UnprocessableEntityError):  # base models are protected
        client.models.delete(BASE)


def test_rest_upload_streams_large_and_chunked_bodies(server, client):
    # Several MiB: read a piece at a time and streamed into the upload as it arrives.
    large = TRAIN * (3 * 1024 * 1024 // len(TRAIN))
    stored = client.files.create(file=("large.jsonl", large), purpose="fine-tune")
    assert stored.bytes == len(large)
    assert stored.sha256 == hashlib.sha256(large).hexdigest()
    assert stored.line_count == 128 * (3 * 1024 * 1024 // len(TRAIN))

    # Chunked transfer encoding (no Content-Length), a custom boundary, odd piece sizes.
    boundary = "----trustformers-e2e"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n"
            f"fine-tune\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"chunked.jsonl\"\r\nContent-Type: application/jsonl\r\n\r\n"
            ).encode() + VALIDATION + f"\r\n--{boundary}--\r\n".encode()

    def pieces():
        for at in range(0, len(body), 777):
            yield body[at:at + 777]

    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        r = http.post("/v1/files", content=pieces(),
                      headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 200, r.text
    assert r.json()["filename"] == "chunked.jsonl" and r.json()["line_count"] == 32
    assert r.json()["sha256"] == hashlib.sha256(VALIDATION).hexdigest()


def test_openai_sdk_errors(server, client, files):
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-unknown")
    with pytest.raises(openai.NotFoundError) as info:
        client.fine_tuning.jobs.create(model="no-such-model", training_file=files[0].id)
    assert info.value.body["param"] == "model"
    with pytest.raises(openai.NotFoundError) as info:
        client.fine_tuning.jobs.create(model=BASE, training_file="file-unknown")
    assert info.value.body["param"] == "training_file"
    with pytest.raises(openai.BadRequestError) as info:
        client.fine_tuning.jobs.create(model=BASE, training_file=files[0].id,
                                       hyperparameters={"n_epochs": 0})
    assert info.value.body["param"] == "hyperparameters.n_epochs"
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve("file-unknown")
    with pytest.raises(openai.BadRequestError) as info:
        client.files.create(file=("x.jsonl", TRAIN), purpose="batch")
    assert info.value.body["param"] == "purpose"
    # Oversize: the service refuses the file once it passes the limit (not a load problem: 400).
    with pytest.raises(openai.BadRequestError) as info:
        client.files.create(file=("big.jsonl", BIG), purpose="fine-tune")
    assert "limit" in info.value.message
    with pytest.raises(openai.BadRequestError):
        client.files.create(file=("empty.jsonl", b""), purpose="fine-tune")

    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        # The form's purpose must come before its file, so the upload can start streaming.
        boundary = "b0undary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"t.jsonl\"\r\n\r\n").encode() + TRAIN + \
            (f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n"
             f"fine-tune\r\n--{boundary}--\r\n").encode()
        r = http.post("/v1/files", content=body,
                      headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert r.status_code == 400 and r.json()["error"]["param"] == "purpose"
        r = http.post("/v1/files", content=b"{}", headers={"Content-Type": "application/json"})
        assert r.status_code == 400
        # A body past the route's limit is refused before it is read.
        r = http.post("/v1/files", content=b"x" * (MAX_FILE_BYTES + 2 * 1024 * 1024),
                      headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert r.status_code == 413
        r = http.get("/v1/fine_tuning/jobs/ftjob-unknown/events")
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "fine_tuning_job_not_found"
        r = http.get("/v1/fine_tuning/jobs", params={"limit": 0})
        assert r.status_code == 400 and r.json()["error"]["param"] == "limit"


def test_bad_uploads(stub):
    # A line that is not JSON: refused at upload, naming the line.
    bad = TRAIN.replace(LINES[4].encode(), b'{"text": "oops", "label": \n', 1)
    e = rpc_error(upload, stub, bad)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "5" in e.details()
    # Empty: refused (with or without a declared size).
    e = rpc_error(upload, stub, b"", declare=False)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    e = rpc_error(upload, stub, b"")
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    e = rpc_error(upload, stub, b"\n\n  \n", declare=False)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    # Oversize: declared (refused before any chunk) or streamed past the limit.
    e = rpc_error(upload, stub, BIG)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    e = rpc_error(upload, stub, BIG, declare=False, chunk=256 * 1024)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "limit" in e.details()
    # Bytes that do not match the declared checksum or size.
    e = rpc_error(upload, stub, TRAIN, sha256="0" * 64)
    assert e.code() == grpc.StatusCode.DATA_LOSS
    # Chunks over 1 MiB, and a stream that does not start with metadata.
    e = rpc_error(upload, stub, TRAIN * 250, declare=False, chunk=2 * 1024 * 1024)
    assert e.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED)
    e = rpc_error(stub.UploadFile, iter([ft.UploadFileRequest(chunk=b"{}\n")]))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    e = rpc_error(stub.UploadFile, iter([]))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    e = rpc_error(upload, stub, TRAIN, purpose=ft.FILE_PURPOSE_FINE_TUNE_RESULTS)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    e = rpc_error(stub.GetFile, ft.GetFileRequest(file_id="file-unknown"))
    assert e.code() == grpc.StatusCode.NOT_FOUND


def failed_validation(stub, job):
    """Waits for `job` to end; returns it and its file_validation events."""
    events = watch(stub, job.id)
    assert events[-1].state_change.from_state == ft.JOB_STATE_VALIDATING_FILES
    assert events[-1].state_change.to_state == ft.JOB_STATE_FAILED
    assert events[-1].level == ft.EVENT_LEVEL_ERROR
    final = stub.GetJob(ft.GetJobRequest(job_id=job.id), timeout=10)
    assert final.state == ft.JOB_STATE_FAILED and final.error.code == "invalid_file"
    assert not final.HasField("started_at")
    return final, [e.file_validation for e in events if e.WhichOneof("payload") ==
                   "file_validation"]


def test_bad_records_fail_the_job_in_validation_with_the_line(stub, files):
    # Valid JSON, but line 6 has no label: the upload passes, the job fails naming line 6.
    lines = list(LINES[:128])
    lines[5] = json.dumps({"text": "no label here"}) + "\n"
    unlabelled = upload(stub, "".join(lines).encode())
    job, issues = failed_validation(stub, create(stub, unlabelled.id))
    assert job.error.line == 6
    assert [(i.line, i.level) for i in issues[-1].issues] == [(6, ft.EVENT_LEVEL_ERROR)]
    assert issues[-1].file_id == unlabelled.id

    # A label outside hyperparameters.labels (no "weather"): the first weather line.
    first_weather = next(i for i, line in enumerate(LINES[:128], 1) if '"weather"' in line)
    job, issues = failed_validation(stub, create(stub, files[0].id, labels=LABELS[:3]))
    assert job.error.line == first_weather
    assert "weather" in job.error.message
    assert issues[-1].issues[0].line == first_weather


def test_bad_job_requests(stub, files):
    train = files[0].id
    e = rpc_error(stub.CreateJob, ft.CreateJobRequest(base_model="no-such-model",
                                                      training_file=train))
    assert e.code() == grpc.StatusCode.NOT_FOUND
    e = rpc_error(stub.CreateJob, ft.CreateJobRequest(base_model=GGUF, training_file=train))
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION and "GGUF" in e.details()
    e = rpc_error(stub.CreateJob, ft.CreateJobRequest(base_model=BASE, training_file="file-x"))
    assert e.code() == grpc.StatusCode.NOT_FOUND
    e = rpc_error(stub.CreateJob, ft.CreateJobRequest(base_model=BASE))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    e = rpc_error(stub.CreateJob, ft.CreateJobRequest(
        base_model=BASE, training_file=train, hyperparameters=ft.Hyperparameters(batch_size=0)))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "batch_size" in e.details()
    e = rpc_error(stub.CreateJob, ft.CreateJobRequest(
        base_model=BASE, training_file=train,
        hyperparameters=ft.Hyperparameters(max_seq_length=100000)))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    e = rpc_error(stub.CreateJob, ft.CreateJobRequest(base_model=BASE, training_file=train,
                                                      suffix="Not Valid"))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    for call, request in ((stub.GetJob, ft.GetJobRequest()),
                          (stub.CancelJob, ft.CancelJobRequest()),
                          (stub.GetFile, ft.GetFileRequest())):
        assert rpc_error(call, request).code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rpc_error(stub.GetJob, ft.GetJobRequest(job_id="ftjob-x")).code() == \
        grpc.StatusCode.NOT_FOUND
    assert rpc_error(stub.CancelJob, ft.CancelJobRequest(job_id="ftjob-x")).code() == \
        grpc.StatusCode.NOT_FOUND


def test_cancel_is_idempotent_and_leaves_ended_jobs_alone(stub, files, grpc_job):
    job = create(stub, files[0].id, n_epochs=100)
    cancelled = stub.CancelJob(ft.CancelJobRequest(job_id=job.id), timeout=10)
    assert cancelled.state == ft.JOB_STATE_CANCELLED and cancelled.HasField("finished_at")
    assert not cancelled.fine_tuned_model
    again = stub.CancelJob(ft.CancelJobRequest(job_id=job.id), timeout=10)
    assert again == cancelled
    events = watch(stub, job.id)  # follow: ends at once, the job is over
    assert events[-1].state_change.to_state == ft.JOB_STATE_CANCELLED
    assert sum(e.state_change.to_state == ft.JOB_STATE_CANCELLED for e in events) == 1
    time.sleep(0.5)  # nothing is recorded after the cancel
    assert watch(stub, job.id, follow=False) == events
    assert stub.GetJob(ft.GetJobRequest(job_id=job.id), timeout=10) == cancelled

    finished = stub.GetJob(ft.GetJobRequest(job_id=grpc_job[0].id), timeout=10)
    assert finished.state in TERMINAL
    assert stub.CancelJob(ft.CancelJobRequest(job_id=finished.id), timeout=10) == finished


def test_cancel_while_running_stops_training(stub, files):
    job = create(stub, files[0].id, n_epochs=100, logging_steps=1)
    # A follower that leaves: its call is cancelled, the server forgets it, the job goes on.
    leaving = stub.WatchJob(ft.WatchJobRequest(job_id=job.id, follow=True), timeout=120)
    assert next(leaving).sequence == 1
    leaving.cancel()
    with pytest.raises(grpc.RpcError) as info:
        list(leaving)
    assert info.value.code() == grpc.StatusCode.CANCELLED
    stream = stub.WatchJob(ft.WatchJobRequest(job_id=job.id, follow=True), timeout=120)
    seen = []
    for event in stream:
        seen.append(event)
        if event.WhichOneof("payload") == "training_step":
            stub.CancelJob(ft.CancelJobRequest(job_id=job.id), timeout=10)
    assert seen[-1].state_change.from_state == ft.JOB_STATE_RUNNING
    assert seen[-1].state_change.to_state == ft.JOB_STATE_CANCELLED
    final = wait_terminal(stub, job.id)
    assert final.state == ft.JOB_STATE_CANCELLED and final.progress.step < 800
    time.sleep(1.0)  # the runner stops at its next step and records nothing more
    assert watch(stub, job.id, follow=False) == seen


def test_restart_keeps_jobs_and_serves_the_fine_tuned_model(server, config_path, stub, files,
                                                             grpc_job):
    created, events = grpc_job
    before = stub.GetJob(ft.GetJobRequest(job_id=created.id), timeout=10)
    # A long job, followed while the server shuts down: the stream ends UNAVAILABLE (resume
    # with after_sequence), the job stays RUNNING and resumes after the restart.
    long_job = create(stub, files[0].id, n_epochs=100, logging_steps=1)
    follower = stub.WatchJob(ft.WatchJobRequest(job_id=long_job.id, follow=True), timeout=120)
    followed = []
    for event in follower:
        followed.append(event)
        if event.WhichOneof("payload") == "training_step":
            break
    server.signal()
    with pytest.raises(grpc.RpcError) as info:
        for event in follower:
            followed.append(event)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert server.wait_exit() == 0
    restarted = Server(config_path)
    try:
        restarted.wait_serving(timeout=120)
        again = ft_grpc.FineTuningStub(restarted.channel)
        assert again.GetJob(ft.GetJobRequest(job_id=created.id), timeout=10) == before
        assert watch(again, created.id, follow=False) == events
        resumed = again.WatchJob(ft.WatchJobRequest(job_id=long_job.id, follow=True,
                                                    after_sequence=followed[-1].sequence),
                                 timeout=120)
        later = []
        for event in resumed:
            later.append(event)
            if event.WhichOneof("payload") == "training_step" and \
                    any("restarted" in e.message for e in later):
                break
        resumed.cancel()
        sequences = [e.sequence for e in followed + later]
        assert sequences == list(range(1, len(sequences) + 1))  # nothing lost, nothing twice
        assert again.GetJob(ft.GetJobRequest(job_id=long_job.id),
                            timeout=10).state == ft.JOB_STATE_RUNNING
        assert again.CancelJob(ft.CancelJobRequest(job_id=long_job.id),
                               timeout=10).state == ft.JOB_STATE_CANCELLED
        result = classify(restarted, before.fine_tuned_model, ["It rained all day."])
        assert result.classifications[0].labels[0].label in LABELS
        served = [m.name for m in models_pb2_grpc.ModelsStub(restarted.channel).ListModels(
            models_pb2.ListModelsRequest(), timeout=10).models]
        assert before.fine_tuned_model in served
        assert not any(":sdk:" in name for name in served)  # deleted before the restart
    finally:
        restarted.close()
