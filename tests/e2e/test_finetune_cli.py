"""`trustformers finetune` without --server: fine-tunes all-MiniLM-L6-v2 on tests/golden/bert_train
in this process, then the real server serves the folder it wrote; a run killed with SIGKILL and
resumed from its latest checkpoint ends with the same bytes as an uninterrupted one; bad inputs
exit 2 naming the file and line."""

import json
import math
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from trustformers.v1 import inference_pb2, inference_pb2_grpc, models_pb2, models_pb2_grpc

from conftest import BINARY, SOURCE_DIR, run_cli

TEXTS = SOURCE_DIR / "tests" / "golden" / "bert_train" / "texts.jsonl"
LABELS = ["computing", "cooking", "sports", "weather"]  # sorted: the order labels are discovered
# Small and quick on two cores: short sequences, two threads.
COMMON = ["--base", "all-minilm-l6-v2", "--threads", "2", "--max-length", "48", "--seed", "7"]


def split(tmp_path, eval_per_label=8):
    """Writes train.jsonl (128 lines) and eval.jsonl (the first 8 sentences of each label, 32)
    under tmp_path; returns their paths and the evaluation rows."""
    rows = [json.loads(line) for line in TEXTS.read_text().splitlines() if line.strip()]
    assert len(rows) == 160 and sorted({r["label"] for r in rows}) == LABELS
    taken = dict.fromkeys(LABELS, 0)
    train, evaluation = [], []
    for row in rows:
        if taken[row["label"]] < eval_per_label:
            taken[row["label"]] += 1
            evaluation.append(row)
        else:
            train.append(row)
    train_path, eval_path = tmp_path / "train.jsonl", tmp_path / "eval.jsonl"
    train_path.write_text("".join(json.dumps(r) + "\n" for r in train))
    eval_path.write_text("".join(json.dumps(r) + "\n" for r in evaluation))
    return train_path, eval_path, evaluation


def finetune(*args, timeout=240):
    return run_cli("finetune", *COMMON, *args, timeout=timeout)


def summary_of(result):
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout  # one JSON line, nothing else on stdout
    return json.loads(lines[0])


def logged_steps(stderr):
    """{step: loss} from the progress lines (stderr is not a terminal: one line per log)."""
    steps = {}
    for line in stderr.splitlines():
        if line.startswith("[") and "  loss " in line:
            step = int(line.split("]", 1)[1].split("/", 1)[0])
            steps[step] = float(line.split("  loss ", 1)[1].split()[0])
    return steps


def test_finetune_then_serve_and_classify(tmp_path, start_server, write_config):
    train, evaluation, eval_rows = split(tmp_path)
    output = tmp_path / "topics-model"
    result = finetune("--train", str(train), "--eval", str(evaluation), "--output", str(output),
                      "--epochs", "2", "--batch-size", "16", "--learning-rate", "3e-4")
    summary = summary_of(result)
    print(json.dumps(summary))

    # 128 examples in batches of 16: 8 steps an epoch, 2 epochs.
    assert summary["steps"] == 16
    assert summary["labels"] == LABELS
    assert summary["model"] == str(output)
    assert math.isfinite(summary["train_loss"])
    # Four balanced classes start near ln 4 = 1.386; training must have lowered the loss.
    assert 0 < summary["train_loss"] < 1.3
    assert summary["train_seconds"] > 0 and summary["samples_per_second"] > 0
    metrics = summary["eval"]
    assert metrics["examples"] == 32
    assert math.isfinite(metrics["loss"]) and metrics["loss"] < math.log(4)
    assert metrics["accuracy"] >= 0.8
    assert 0 < metrics["macro_f1"] <= 1
    # Progress went to stderr: the data summary, evaluations per epoch, the final checkpoint.
    assert "128 training examples, 32 evaluation examples, 4 labels " \
           "(computing, cooking, sports, weather)" in result.stderr
    assert "eval at step 8:" in result.stderr and "eval at step 16:" in result.stderr
    assert f"eval at step 16: loss {metrics['loss']:.4f}  accuracy {metrics['accuracy']:.4f}" \
        in result.stderr
    assert (output / "checkpoints" / "checkpoint-16" / "COMPLETE").is_file()

    # A Hugging Face folder.
    config = json.loads((output / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert config["id2label"] == {str(i): name for i, name in enumerate(LABELS)}
    assert config["label2id"] == {name: i for i, name in enumerate(LABELS)}
    assert config["model_type"] == "bert" and config["problem_type"] == \
        "single_label_classification"
    for name in ("model.safetensors", "tokenizer.json", "vocab.txt", "tokenizer_config.json"):
        assert (output / name).stat().st_size > 0, name
    # The final model is the last checkpoint's.
    assert (output / "model.safetensors").read_bytes() == \
        (output / "checkpoints" / "checkpoint-16" / "model.safetensors").read_bytes()

    # The real server serves the folder under a name of our choosing.
    server = start_server(write_config(
        f"models:\n  - name: topics\n    path: {output}\n    device: cpu\n"))
    server.wait_serving(timeout=120)
    listed = models_pb2_grpc.ModelsStub(server.channel).ListModels(
        models_pb2.ListModelsRequest(), timeout=10).models
    assert [m.name for m in listed] == ["topics"]
    topics = listed[0]
    assert topics.state == models_pb2.MODEL_STATE_READY
    assert models_pb2.MODEL_TASK_CLASSIFY in topics.tasks
    assert list(topics.labels) == LABELS
    assert topics.architecture == "BertForSequenceClassification"
    assert topics.format == models_pb2.MODEL_FORMAT_HF_SAFETENSORS

    response = inference_pb2_grpc.InferenceStub(server.channel).Classify(
        inference_pb2.ClassifyRequest(model="topics", inputs=[r["text"] for r in eval_rows]),
        timeout=120)
    assert len(response.classifications) == len(eval_rows)
    correct, loss = 0, 0.0
    for row, result in zip(eval_rows, response.classifications):
        assert sorted(l.label for l in result.labels) == LABELS  # names, not LABEL_0..3
        assert all(l.label == LABELS[l.id] for l in result.labels)
        correct += result.labels[0].label == row["label"]
        # Cross-entropy of the true label from the served logits (log-softmax).
        logits = {l.label: l.logit for l in result.labels}
        top = max(logits.values())
        log_sum = top + math.log(sum(math.exp(v - top) for v in logits.values()))
        loss += log_sum - logits[row["label"]]
    # The served model is the trained one: same predictions, same loss as the final evaluation.
    assert correct / len(eval_rows) == metrics["accuracy"]
    assert abs(loss / len(eval_rows) - metrics["loss"]) < 1e-5, (loss / len(eval_rows), metrics)
    shutil.rmtree(output / "checkpoints")  # 270 MB; the server maps only the final folder


RESUME_ARGS = ["--max-steps", "12", "--save-steps", "3", "--logging-steps", "1",
               "--dropout", "0.1", "--batch-size", "16", "--learning-rate", "3e-4"]


def test_killed_run_resumes_to_the_same_bytes(tmp_path):
    train, _, _ = split(tmp_path)
    killed = tmp_path / "killed"
    command = [BINARY, "finetune", *COMMON, "--train", str(train), *RESUME_ARGS,
               "--output", str(killed)]
    checkpoints = killed / "checkpoints"
    stderr_path = tmp_path / "killed.stderr"
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr)
        try:
            deadline = time.monotonic() + 180
            while not (checkpoints / "checkpoint-6" / "COMPLETE").exists():
                assert process.poll() is None, stderr_path.read_text()
                assert time.monotonic() < deadline, "no checkpoint-6 within 180 s"
                time.sleep(0.002)
            process.send_signal(signal.SIGKILL)
            assert process.wait(timeout=30) == -signal.SIGKILL
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.stdout.read() == b""  # killed before its summary
    process.stdout.close()
    assert not (killed / "model.safetensors").exists()
    assert not (checkpoints / "checkpoint-12").exists()
    done = sorted(int(p.name.split("-")[1]) for p in checkpoints.iterdir()
                  if p.name.split("-")[1].isdigit() and (p / "COMPLETE").exists())
    # Killed within milliseconds of checkpoint-6's rename, three training steps before the next
    # checkpoint (so `latest` is 6 unless this process stalled for seconds).
    assert 6 in done and 12 not in done, done
    latest = done[-1]
    assert logged_steps(stderr_path.read_text()).keys() >= set(range(1, latest + 1))

    # What a crash while writing leaves behind must never be resumed from: a half-written
    # checkpoint-9.tmp (here even with its marker) and a checkpoint-10 without COMPLETE. Both
    # claim later steps than checkpoint-6, so resuming from either would log from step 10 or 11
    # (with latest = 6; the names follow `latest`).
    later, incomplete = latest + 3, latest + 4
    for name, step, marker in ((f"checkpoint-{later}.tmp", later, True),
                               (f"checkpoint-{incomplete}", incomplete, False)):
        fake = checkpoints / name
        if fake.exists():  # the kill may have come while checkpoint-9.tmp was being written
            shutil.rmtree(fake)
        shutil.copytree(checkpoints / f"checkpoint-{latest}", fake, copy_function=os.link)
        state = json.loads((fake / "trainer_state.json").read_text())
        state["global_step"] = step
        (fake / "trainer_state.json").unlink()  # a link to checkpoint-6's: write a new file
        (fake / "trainer_state.json").write_text(json.dumps(state))
        if not marker:
            (fake / "COMPLETE").unlink()

    resumed = run_cli(*command[1:], "--resume", "latest", timeout=240)
    resumed_summary = summary_of(resumed)
    resumed_steps = logged_steps(resumed.stderr)
    # From checkpoint-6: its step 7 onwards, nothing else.
    assert sorted(resumed_steps) == list(range(latest + 1, 13)), resumed.stderr
    assert f"checkpoint-{later}.tmp" not in resumed.stderr
    assert not list(checkpoints.glob("*.tmp"))  # the leftover was cleared
    assert (checkpoints / "checkpoint-12" / "COMPLETE").is_file()
    assert (checkpoints / f"checkpoint-{later}" / "COMPLETE").is_file()  # written anew
    assert json.loads((checkpoints / f"checkpoint-{later}" / "trainer_state.json").read_text())[
        "global_step"] == later
    assert not (checkpoints / "checkpoint-3").exists()  # --save-total-limit 2 (the default)

    # The same command, never interrupted, into another folder.
    straight = tmp_path / "straight"
    uninterrupted = run_cli(*command[1:-1], str(straight), timeout=240)
    straight_summary = summary_of(uninterrupted)
    straight_steps = logged_steps(uninterrupted.stderr)
    assert sorted(straight_steps) == list(range(1, 13))

    assert resumed_summary["steps"] == straight_summary["steps"] == 12
    # The checkpoint carries the loss accumulators, so the mean over all 12 steps matches too.
    assert resumed_summary["train_loss"] == straight_summary["train_loss"]
    for step in range(latest + 1, 13):
        assert resumed_steps[step] == straight_steps[step], step
    # Dropout 0.1 draws random masks: equal bytes need the generator's state restored, as well
    # as the weights, the AdamW moments, the schedule and the position in the shuffled data.
    final_resumed = (killed / "model.safetensors").read_bytes()
    final_straight = (straight / "model.safetensors").read_bytes()
    assert len(final_resumed) > 80_000_000
    assert final_resumed == final_straight
    # And the last steps moved the weights.
    assert final_resumed != (straight / "checkpoints" / "checkpoint-9" /
                             "model.safetensors").read_bytes()
    # Resuming with other batches would read a position in the data that no longer means the
    # same thing: refused, naming what changed, and nothing is trained.
    other = list(command[1:])
    other[other.index("--batch-size") + 1] = "32"
    mismatched = run_cli(*other, "--resume", "latest", timeout=240)
    assert_refused(mismatched, "batch size 16 (now 32)")
    assert run_cli(*command[1:], "--resume", str(tmp_path / "nowhere"),
                   timeout=240).returncode == 2
    # About 1.5 GB of checkpoints: pytest keeps the last runs' temporary folders.
    shutil.rmtree(killed)
    shutil.rmtree(straight)


def assert_refused(result, *fragments):
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_bad_inputs_exit_2_naming_the_file_and_line(tmp_path):
    train, _, _ = split(tmp_path)
    good = train.read_text().splitlines(keepends=True)
    output = tmp_path / "out"

    malformed = tmp_path / "malformed.jsonl"
    malformed.write_text(good[0] + good[1] + '{"text": "no closing brace", "label": \n' + good[2])
    assert_refused(finetune("--train", str(malformed), "--output", str(output)),
                   f"{malformed}:3: invalid JSON")

    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text(good[0] + good[1] + good[2] +
                       '{"text": "Shares fell sharply today.", "label": "finance"}\n')
    assert_refused(finetune("--train", str(unknown), "--output", str(output),
                            "--label-names", ",".join(LABELS)),
                   f"{unknown}:4: unknown label \"finance\"")

    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert_refused(finetune("--train", str(empty), "--output", str(output)),
                   f"{empty}: no examples")

    # A bad evaluation file is named too (here its label is not among the training labels).
    bad_eval = tmp_path / "bad-eval.jsonl"
    bad_eval.write_text(good[0] + '{"text": "Shares fell sharply today.", "label": "finance"}\n')
    assert_refused(finetune("--train", str(train), "--eval", str(bad_eval), "--output",
                            str(output)),
                   f"{bad_eval}:2:", "finance")

    assert_refused(finetune("--train", str(train)), "--output is required")

    missing_base = tmp_path / "no-such-model"
    assert_refused(run_cli("finetune", "--base", str(missing_base), "--train", str(train),
                           "--output", str(output), "--threads", "2"),
                   str(missing_base))

    # Refused before training: nothing written.
    assert not output.exists()
