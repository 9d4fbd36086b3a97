# hotstore: the library, the `hotstore` CLI and the write-behind worker.
#   docker build -t hotstore:local .
#   docker run --rm hotstore:local demo            # embedded fakeredis + SQLite, no servers
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY hotstore ./hotstore
COPY persistence ./persistence
COPY workers ./workers
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN useradd --create-home --uid 10001 hotstore
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER hotstore
WORKDIR /home/hotstore
ENTRYPOINT ["hotstore"]
CMD ["--help"]
