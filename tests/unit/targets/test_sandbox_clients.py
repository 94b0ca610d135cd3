"""The sandbox's boto3 clients: one per endpoint, key, service and region in a process (made
once, also when threads ask at once), never shared between accounts or services."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from bbws_infra.targets import sandbox

ENDPOINT = "http://127.0.0.1:1"  # never called: clients are only made


def test_one_client_per_account_service_and_region() -> None:
    first = sandbox.SandboxSession(ENDPOINT, "AKIA-one", "secret", "af-south-1")
    again = sandbox.SandboxSession(ENDPOINT, "AKIA-one", "secret", "af-south-1")
    other = sandbox.SandboxSession(ENDPOINT, "AKIA-two", "secret", "af-south-1")
    s3 = first.client("s3")
    assert again.client("s3") is s3
    assert first.client("s3", region_name="af-south-1") is s3
    assert first.client("s3", region_name="eu-west-1") is not s3
    assert first.client("dynamodb") is not s3
    assert other.client("s3") is not s3
    assert s3.meta.region_name == "af-south-1"
    assert s3.meta.endpoint_url == ENDPOINT


def test_threads_asking_at_once_get_the_same_client() -> None:
    session = sandbox.SandboxSession(ENDPOINT, "AKIA-threads", "secret", "af-south-1")
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(lambda _: session.client("sns"), range(16)))
    assert all(client is found[0] for client in found)


def test_warming_up_makes_no_shared_client() -> None:
    before = dict(sandbox._clients)
    sandbox.warm_clients(ENDPOINT)
    assert sandbox._clients == before


def test_a_reader_session_is_made_once_per_emulator_and_env(monkeypatch) -> None:
    from bbws_infra.core.registry import load_environment
    from bbws_infra.targets import targets

    made: list[str] = []
    server = [(1, 2000)]

    def session_for(env):
        made.append(env.name)
        return None, sandbox.SandboxSession(ENDPOINT, f"AKIA-{len(made)}", "s", env.region), []

    monkeypatch.setattr(sandbox, "session_for", session_for)
    monkeypatch.setattr(sandbox, "recorded_server", lambda: server[0])
    monkeypatch.setattr(targets, "_readers", {})
    dev, sit = load_environment("dev"), load_environment("sit")
    first = targets.reader_session("sandbox", dev)
    assert targets.reader_session("sandbox", dev) is first
    assert targets.reader_session("sandbox", sit) is not first
    server[0] = (3, 2000)  # a new emulator: new keys, a new session
    assert targets.reader_session("sandbox", dev) is not first
    assert made == ["dev", "sit", "dev"]
