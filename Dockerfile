# trustformers server image: built with the same install script and CMake build as CI, serving
# the default models as a non-root user. CPU backends only (no CUDA toolkit in Debian's archive).
#   docker build -t trustformers .
#   docker run -p 50051:50051 trustformers

FROM debian:12-slim AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src
COPY scripts/install-deps.sh scripts/
RUN scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DTF_CUDA=OFF \
    && cmake --build /build \
    && cmake --install /build --prefix /opt/trustformers --strip
# The default models, checked against scripts/models.lock like everywhere else.
RUN TRUSTFORMERS_HOME=/models PYTHON=python3 scripts/fetch-models.sh

FROM debian:12-slim
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY scripts/install-deps.sh /tmp/install-deps.sh
RUN /tmp/install-deps.sh --runtime && rm -rf /var/lib/apt/lists/* /tmp/install-deps.sh \
    && groupadd --system --gid 10001 trustformers \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/trustformers --create-home \
               trustformers
COPY --from=build /opt/trustformers /opt/trustformers
COPY --from=build --chown=trustformers:trustformers /models /var/lib/trustformers/models
COPY config/default.yaml /etc/trustformers/config.yaml
ENV PATH=/opt/trustformers/bin:$PATH \
    TRUSTFORMERS_HOME=/var/lib/trustformers/models
USER 10001:10001
WORKDIR /var/lib/trustformers
EXPOSE 50051 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["trustformers", "health", "--server", "127.0.0.1:50051"]
ENTRYPOINT ["trustformers"]
CMD ["serve", "--config", "/etc/trustformers/config.yaml"]
