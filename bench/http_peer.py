"""The peer of the REST gateway benchmark (bench/http_load.py): what users run today, a Hugging Face
model behind a Python web server. A Starlette app served by uvicorn with one worker, answering
  GET  /healthz        {"status":"ok"}
  POST /v1/embeddings  the OpenAI shape: {"model", "input": STRING | [STRING, ...]} ->
                       {"object":"list", "data":[{"object":"embedding","index","embedding"}],
                        "model", "usage":{"prompt_tokens","total_tokens"}}
with all-MiniLM-L6-v2 embedded by transformers + torch exactly as bench/embed_peers.py's torch peer
does (its TorchPipeline: mean pooling, L2 normalisation, max_seq_length from the model folder).

The model runs in one dedicated thread, one request at a time, with --threads torch threads, so
the event loop keeps accepting and answering /healthz meanwhile and torch never runs several
thread teams on the same cores (Starlette's default thread pool would start up to 40 model calls
at once). There is no batching across requests.

Run with the reference venv's python (scripts/setup-ref-venv.sh):
    http_peer.py --threads 2 --port-file FILE [--model DIR]
It listens on 127.0.0.1 on a free port and, once serving, writes FILE: one JSON object with the
port and the versions of the stack."""

import argparse
import asyncio
import concurrent.futures
import json
import os
import socket
import sys
from contextlib import asynccontextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from embed_peers import TorchPipeline  # noqa: E402  (stdlib-only at import time)

MODELS = Path(os.environ.get("TRUSTFORMERS_HOME",
                             Path.home() / ".cache" / "trustformers" / "models"))


def error(status, message):
    from starlette.responses import JSONResponse
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error",
                                   "param": None, "code": None}}, status_code=status)


def make_app(pipeline, threads, port, port_file, versions):
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    def init_model_thread():
        import torch
        torch.set_num_threads(threads)  # OpenMP keeps the team size per calling thread

    model_thread = concurrent.futures.ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="model", initializer=init_model_thread)

    def embed(texts):
        vectors = pipeline.embed(texts)
        tokens = int(pipeline.tokenize(texts, "np")["attention_mask"].sum())
        return vectors, tokens

    async def healthz(request):
        return JSONResponse({"status": "ok"})

    async def embeddings(request):
        try:
            body = await request.json()
        except ValueError:
            return error(400, "the body is not JSON")
        if not isinstance(body, dict):
            return error(400, "the body must be a JSON object")
        texts = body.get("input")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not texts or \
                not all(isinstance(t, str) for t in texts):
            return error(400, "'input' must be a string or a non-empty array of strings")
        loop = asyncio.get_running_loop()
        vectors, tokens = await loop.run_in_executor(model_thread, embed, texts)
        return JSONResponse({
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": v.tolist()}
                     for i, v in enumerate(vectors)],
            "model": body.get("model", ""),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        })

    @asynccontextmanager
    async def lifespan(app):
        partial = port_file.with_name(port_file.name + ".partial")
        partial.write_text(json.dumps({"port": port, **versions}))
        os.replace(partial, port_file)
        yield
        model_thread.shutdown(wait=False, cancel_futures=True)

    return Starlette(routes=[Route("/healthz", healthz, methods=["GET"]),
                             Route("/v1/embeddings", embeddings, methods=["POST"])],
                     lifespan=lifespan)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(MODELS / "all-minilm-l6-v2"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--backlog", type=int, default=4096)
    args = parser.parse_args()
    model_dir = Path(args.model).expanduser()

    os.environ.setdefault("RAYON_NUM_THREADS", str(args.threads))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

    import starlette
    import torch
    import transformers
    import uvicorn
    from transformers import AutoModel, AutoTokenizer
    torch.set_num_threads(args.threads)

    bert_config = model_dir / "sentence_bert_config.json"
    max_length = json.loads(bert_config.read_text())["max_seq_length"] if bert_config.exists() \
        else 256
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    pipeline = TorchPipeline(tokenizer, max_length, model)
    pipeline.embed(["warm-up"])

    # Bound here rather than by uvicorn so that port 0 works and the port is known. The protocol
    # is named: asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP, and without
    # it every keep-alive response waits ~40 ms for a delayed ACK (what `uvicorn --port` gets).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    versions = {"starlette": starlette.__version__, "uvicorn": uvicorn.__version__,
                "torch": torch.__version__, "transformers": transformers.__version__,
                "threads": args.threads}
    app = make_app(pipeline, args.threads, port, Path(args.port_file), versions)
    config = uvicorn.Config(app, workers=1, log_level="warning", access_log=False,
                            backlog=args.backlog)
    server = uvicorn.Server(config)
    config.load()
    versions["http"] = config.http_protocol_class.__module__.rsplit(".", 1)[-1]
    sock.listen(args.backlog)
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
