"""Helpers shared by the fine-tuning end-to-end tests."""

import time

from trustformers.v1 import fine_tuning_pb2 as ft

TERMINAL = {ft.JOB_STATE_SUCCEEDED, ft.JOB_STATE_FAILED, ft.JOB_STATE_CANCELLED}


def wait_terminal(stub, job_id, timeout=120):
    """Polls GetJob until the job succeeded, failed or was cancelled; returns it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = stub.GetJob(ft.GetJobRequest(job_id=job_id), timeout=10)
        if job.state in TERMINAL:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not end within {timeout} s")
