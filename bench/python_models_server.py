"""The peer for bench/grpc_overhead.py: the same trustformers.v1.Models.ListModels answer served
by Python's grpcio, the way teams serve models behind a Python server today. It first asks the
trustformers server for its answer so both servers return byte-identical responses."""

import argparse
import sys
from concurrent import futures

import grpc


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--stubs", required=True)
    parser.add_argument("--copy-from", required=True, help="trustformers address to copy from")
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    sys.path.insert(0, args.stubs)
    from trustformers.v1 import models_pb2, models_pb2_grpc

    with grpc.insecure_channel(args.copy_from) as channel:
        answer = models_pb2_grpc.ModelsStub(channel).ListModels(
            models_pb2.ListModelsRequest(), timeout=10)

    class Models(models_pb2_grpc.ModelsServicer):
        def ListModels(self, request, context):
            return answer

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers))
    models_pb2_grpc.add_ModelsServicer_to_server(Models(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with open(args.port_file, "w") as out:
        out.write(str(port))
    server.wait_for_termination()


if __name__ == "__main__":
    main()
