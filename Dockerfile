# Stepwise API image: `docker build -t stepwise .` then
# `docker run -p 8000:8000 -e DATABASE_URL=postgresql://user:pass@db/stepwise stepwise`
# (without DATABASE_URL it keeps a SQLite file in the /data volume). `-e STEPWISE_WORKERS=4` serves
# with four processes (one per core at most; see docs/deployment.md).

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, from pyproject alone, so this layer is rebuilt only when they change.
COPY pyproject.toml README.md ./
RUN mkdir app migrations && touch app/__init__.py \
    && pip install --no-cache-dir . \
    && pip uninstall --yes stepwise
COPY app ./app
COPY migrations ./migrations
RUN pip install --no-cache-dir --no-deps .

FROM python:3.11-slim
RUN groupadd --system --gid 10001 stepwise \
    && useradd --system --create-home --uid 10001 --gid 10001 stepwise \
    && mkdir /data && chown 10001:10001 /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    STEPWISE_HOST=0.0.0.0 \
    STEPWISE_PORT=8000 \
    STEPWISE_WORKERS=1 \
    DATABASE_URL=sqlite:////data/stepwise.db
USER 10001:10001
# The chart library's font cache, built once here rather than at the first chart of each container.
RUN python -c "import matplotlib.font_manager"
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['STEPWISE_PORT'], timeout=2)"]
CMD ["stepwise", "serve"]
