# Dockerfile: builds switchyard on Debian 12 with the distribution's
# libraries (the same packages scripts/install-deps installs) and runs
# `switchyard serve` as an unprivileged user.
FROM debian:12 AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libnats-dev libprotobuf-c-dev protobuf-c-compiler \
      libpq-dev libevent-dev libcjson-dev libsodium-dev libyaml-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN rm -rf build && cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    && cmake --build build -j2 --target switchyard

FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      libnats3.4 libprotobuf-c1 libpq5 libevent-2.1-7 libevent-pthreads-2.1-7 libcjson1 \
      libsodium23 libyaml-0-2 curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --no-create-home switchyard
COPY --from=build /src/build/switchyard /usr/local/bin/switchyard
COPY router/serve.example.yaml /etc/switchyard/serve.yaml
COPY examples/rules.yaml /etc/switchyard/rules.yaml
COPY schemas /etc/switchyard/schemas
USER switchyard
EXPOSE 8088
ENTRYPOINT ["switchyard"]
CMD ["serve", "--config", "/etc/switchyard/serve.yaml"]
