"""A fine-tuning job survives `kill -9` of the server: the job is killed right after its
checkpoint at step 6 is reported, the server restarts on the same data folder (where a torn
checkpoint folder, as a kill during a checkpoint write leaves, is planted), and the job resumes
from its last complete checkpoint to SUCCEEDED. Its final evaluation metrics and model bytes equal
those of the same job run without interruption on another server (whose model is also the one
`trustformers finetune` trains in one process with the same seed), its event log kept every event
from before the kill, and its uploaded files are intact."""

import hashlib
import signal

from trustformers.v1 import fine_tuning_pb2 as ft, fine_tuning_pb2_grpc as ft_grpc

from fine_tuning_jobs import wait_terminal
from conftest import SOURCE_DIR, Server, run_cli

BASE = "all-minilm-l6-v2"
LINES = (SOURCE_DIR / "tests" / "golden" / "bert_train" / "texts.jsonl").read_text().splitlines(
    keepends=True)
TRAIN = "".join(LINES[:128]).encode()
VALIDATION = "".join(LINES[-32:]).encode()
HYPERPARAMETERS = dict(max_steps=12, batch_size=16, max_seq_length=48, seed=11,
                       learning_rate_multiplier=4, logging_steps=1, save_steps=3, eval_steps=6)


def start(tmp_path, name):
    config = tmp_path / f"{name}.yaml"
    config.write_text(f"models:\n  - name: {BASE}\n    path: all-minilm-l6-v2\n"
                      f"fine_tuning:\n  data_dir: {tmp_path / name}\n  train_threads: 2\n")
    server = Server(config)
    server.wait_serving(timeout=120)
    return server, config


def upload(stub, data, purpose):
    def requests():
        yield ft.UploadFileRequest(metadata=ft.FileMetadata(
            filename="data.jsonl", purpose=purpose, size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest()))
        yield ft.UploadFileRequest(chunk=data)
    return stub.UploadFile(requests(), timeout=30)


def create_job(stub):
    train = upload(stub, TRAIN, ft.FILE_PURPOSE_FINE_TUNE)
    validation = upload(stub, VALIDATION, ft.FILE_PURPOSE_FINE_TUNE_VALIDATION)
    return stub.CreateJob(ft.CreateJobRequest(
        base_model=BASE, training_file=train.id, validation_file=validation.id,
        hyperparameters=ft.Hyperparameters(**HYPERPARAMETERS)), timeout=30), train


def events(stub, job_id):
    return list(stub.WatchJob(ft.WatchJobRequest(job_id=job_id, follow=False), timeout=60))


def final_evaluation(log):
    evaluations = [e.evaluation for e in log if e.HasField("evaluation")]
    assert evaluations
    return evaluations[-1].step, dict(evaluations[-1].metrics)


def test_kill_9_mid_training_resumes_to_the_same_result(tmp_path):
    # Uninterrupted, on its own server and data folder.
    straight_server, _ = start(tmp_path, "straight")
    try:
        stub = ft_grpc.FineTuningStub(straight_server.channel)
        straight, _ = create_job(stub)
        done = wait_terminal(stub, straight.id, timeout=300)
        assert done.state == ft.JOB_STATE_SUCCEEDED, done.error.message
        straight_log = events(stub, straight.id)
    finally:
        straight_server.close()
    straight_model = (tmp_path / "straight" / "jobs" / straight.id / "model" /
                      "model.safetensors").read_bytes()

    # The one-process `trustformers finetune` with the same seed and settings trains the same
    # model, byte for byte (learning_rate_multiplier 4 is 2e-4; a job's weight decay is 0).
    (tmp_path / "train.jsonl").write_bytes(TRAIN)
    local = run_cli("finetune", "--base", BASE, "--train", str(tmp_path / "train.jsonl"),
                    "--output", str(tmp_path / "local"), "--max-steps", "12", "--batch-size",
                    "16", "--max-length", "48", "--seed", "11", "--learning-rate", "2e-4",
                    "--weight-decay", "0", "--threads", "2", "-q", timeout=300)
    assert local.returncode == 0, local.stderr
    assert (tmp_path / "local" / "model.safetensors").read_bytes() == straight_model

    server, config = start(tmp_path, "crashed")
    try:
        stub = ft_grpc.FineTuningStub(server.channel)
        job, train = create_job(stub)
        seen = []
        for event in stub.WatchJob(ft.WatchJobRequest(job_id=job.id, follow=True), timeout=300):
            seen.append(event)
            if event.HasField("checkpoint_saved") and event.checkpoint_saved.step == 6:
                server.signal(signal.SIGKILL)
                break
        assert server.wait_exit(timeout=30) == -signal.SIGKILL
    finally:
        server.close()
    # What a kill during a later checkpoint write leaves behind: never resumed from.
    checkpoints = tmp_path / "crashed" / "jobs" / job.id / "checkpoints"
    assert (checkpoints / "checkpoint-6" / "COMPLETE").exists()
    torn = checkpoints / "checkpoint-9"
    if not (torn / "COMPLETE").exists():
        torn.mkdir(exist_ok=True)
        (torn / "model.safetensors").write_bytes(b"torn")

    server = Server(config)
    try:
        server.wait_serving(timeout=120)
        stub = ft_grpc.FineTuningStub(server.channel)
        done = wait_terminal(stub, job.id, timeout=300)
        assert done.state == ft.JOB_STATE_SUCCEEDED, done.error.message
        log = events(stub, job.id)
        # Nothing reported before the kill was lost, in order, and numbered without gaps.
        assert [e.sequence for e in log] == list(range(1, len(log) + 1))
        by_sequence = {e.sequence: e for e in log}
        for event in seen:
            assert by_sequence[event.sequence] == event
        assert any("restarted" in e.message for e in log)
        # The same final metrics and the same model as the uninterrupted run.
        assert final_evaluation(log) == final_evaluation(straight_log)
        assert done.progress.step == 12
        resumed_model = (tmp_path / "crashed" / "jobs" / job.id / "model" /
                         "model.safetensors").read_bytes()
        assert len(resumed_model) > 80_000_000
        assert resumed_model == straight_model
        # The uploaded file is intact.
        stored = stub.GetFile(ft.GetFileRequest(file_id=train.id), timeout=30)
        assert stored.sha256 == hashlib.sha256(TRAIN).hexdigest()
    finally:
        server.close()
