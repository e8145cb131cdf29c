"""Liveness and readiness probes."""

from fastapi.testclient import TestClient

from app import migrate
from app.main import create_app
from app.settings import Settings


def test_healthz_needs_no_key(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_reports_migration_and_catalogue(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["migration"] == migrate.head_revision() and len(body["catalogue_version"]) == 20


def test_readyz_is_503_on_an_unmigrated_database(empty_database_url):
    with TestClient(create_app(Settings(database_url=empty_database_url))) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "not" in response.json()["detail"]


def test_readyz_is_503_before_the_catalogue_is_synced(empty_database_url):
    migrate.upgrade(empty_database_url)
    with TestClient(create_app(Settings(database_url=empty_database_url))) as client:
        response = client.get("/readyz")
    assert response.status_code == 503 and "catalogue" in response.json()["detail"]


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path):
    url = f"sqlite:///{tmp_path}/missing-dir/x.db"
    with TestClient(create_app(Settings(database_url=url))) as client:
        response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["detail"] == "The database is not reachable."


def test_metrics_count_requests_by_route_in_prometheus_format(client, auth):
    headers = auth("catalogue:read")
    for _ in range(3):
        client.get("/v1/exercises/reverse-lunge", headers=headers)  # first through the routes, then from memory
    client.get("/v1/exercises/nope", headers=headers)
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'stepwise_http_requests_total{method="GET",route="/v1/exercises/{slug}",status="200"}' in text
    assert 'route="/v1/exercises/{slug}",status="404"' in text
    assert "stepwise_catalogue_info{version=" in text and "stepwise_api_keys_cached" in text
    counted = next(line for line in text.splitlines() if 'route="/v1/exercises/{slug}",status="200"' in line)
    assert float(counted.split()[-1]) >= 3


def test_metrics_hold_a_latency_histogram_by_route(client, auth):
    """Every path (fast path, hot path, framework) times its answers into one histogram."""
    from prometheus_client.parser import text_string_to_metric_families

    def histogram() -> dict[tuple[str, str, str], float]:
        families = text_string_to_metric_families(client.get("/metrics").text)
        family = next(f for f in families if f.name == "stepwise_http_request_duration_seconds")
        return {
            (s.name, s.labels["route"], s.labels.get("le", "")): s.value
            for s in family.samples
            if s.labels["method"] == "GET"
        }

    headers = auth("catalogue:read,sessions:read")
    before = histogram()
    for _ in range(3):
        client.get("/v1/muscles", headers=headers)  # the framework, then the fast path
        client.get("/v1/users/timed/recommendation?progression=lunge-ladder", headers=headers)
    after = histogram()
    for route in ("/v1/muscles", "/v1/users/{user_id}/recommendation"):
        count = ("stepwise_http_request_duration_seconds_count", route, "")
        assert after[count] - before.get(count, 0) == 3
        assert after[("stepwise_http_request_duration_seconds_bucket", route, "+Inf")] == after[count]
        total = ("stepwise_http_request_duration_seconds_sum", route, "")
        assert 0 < after[total] - before.get(total, 0) < 30
        bounds = [v for (name, r, le), v in sorted(after.items()) if r == route and le not in ("", "+Inf")]
        assert bounds == sorted(bounds)  # cumulative


def test_metrics_show_the_process_the_pool_and_rate_limit_rejections(database_url, make_key):
    """What an operator scrapes beyond requests: the process (memory, CPU, open files), the
    request path's database pool, and the requests refused 429, by policy."""
    from fastapi.testclient import TestClient
    from prometheus_client.parser import text_string_to_metric_families

    from app.main import create_app
    from app.settings import Settings

    def scrape(client) -> dict[str, float]:
        families = text_string_to_metric_families(client.get("/metrics").text)
        return {
            sample.name + "".join(f"{{{k}={v}}}" for k, v in sorted(sample.labels.items())): sample.value
            for family in families
            for sample in family.samples
        }

    app = create_app(Settings(database_url=database_url, rate_limit_per_minute=3, auth_failures_per_minute=2))
    with TestClient(app) as client:
        key = {"Authorization": f"Bearer {make_key('catalogue:read,sessions:read')}"}
        for _ in range(5):
            client.get("/v1/users/u-1/sessions", headers=key)
        for _ in range(4):
            client.get("/v1/muscles", headers={"Authorization": "Bearer sw_not-a-key"})
        found = scrape(client)
    assert found["process_resident_memory_bytes"] > 10_000_000 and found["process_open_fds"] > 0
    assert found["process_cpu_seconds_total"] > 0
    if app.state.database.dialect.name == "postgresql":
        assert found["stepwise_db_pool_size"] == app.state.settings.db_pool_size
    assert found.get("stepwise_db_pool_in_use", 0) == 0 and found["stepwise_db_pool_waiting"] == 0
    assert found["stepwise_rate_limit_rejections_total{policy=partner}"] == 2
    assert found["stepwise_rate_limit_rejections_total{policy=auth-failures}"] == 2
