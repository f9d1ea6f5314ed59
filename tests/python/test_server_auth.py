"""Login and access control of `infer-cli serve` over real loopback HTTP: the seed deployment's
Secret layout in the environment (hashes made by `infer-cli gen-password`), `POST /token` with
curl's `--form` exactly as the seed's example sends it, the official `openai` client with the
token, roles, indistinguishable login failures, the failed-login limit, a users file reloaded at
run time (revoking old tokens), static API keys and the loopback-only default. Needs SmolLM2."""
import base64
import json
import os
import re
import signal
import subprocess
import time

import pytest

openai = pytest.importorskip("openai")

from served import ServerProcess, request  # noqa: E402  pylint: disable=wrong-import-position

API_ROUTES = [("GET", "/v1/models"), ("GET", "/v1/models/smollm2"),
              ("POST", "/v1/chat/completions"), ("POST", "/v1/completions"),
              ("GET", "/v1/admin/users"), ("POST", "/v1/admin/reload"), ("GET", "/v1/nowhere")]


def gen_password(cli, password, *extra):
    r = subprocess.run([cli, "gen-password", "--password-stdin", *extra], input=password,
                       capture_output=True, text=True, timeout=60, check=True)
    return r.stdout.strip()


def jwt_key(cli):
    return subprocess.run([cli, "gen-password", "--jwt-key"], capture_output=True, text=True,
                          timeout=60, check=True).stdout.strip()


def curl_login(port, username, password):
    """The seed's example, verbatim but for the address: curl --location .../token --form ..."""
    r = subprocess.run(
        ["curl", "--silent", "--show-error", "--location", f"http://127.0.0.1:{port}/token",
         "--form", f'username="{username}"', "--form", f'password="{password}"',
         "--write-out", "\n%{http_code}"],
        capture_output=True, text=True, timeout=60, check=True)
    body, _, code = r.stdout.rpartition("\n")
    return int(code), json.loads(body)


def form_login(server, username, password):
    body = f"username={username}&password={password}&grant_type=password"
    return request(server, "POST", "/token", raw=body,
                   headers={"Content-Type": "application/x-www-form-urlencoded"})


def bearer(token):
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def assert_openai_error(body, status_code=None):
    err = json.loads(body)["error"]
    assert set(err) >= {"message", "type", "param", "code"}, err
    assert err["message"]
    return err


@pytest.fixture(scope="module")
def seed_env(cli_tool):
    """The seed's auth.yaml values as environment variables, with real hashes."""
    return {
        "JWT_KEY": jwt_key(cli_tool),
        "ACCESS_TOKEN_EXPIRE_MINUTES": "60",
        "SKIP_EXP_CHECK": "false",
        "HUGGING_FACE_HUB_TOKEN": "",
        "USER_LIST": "ALICE, BOB, CAROL",
        "ALICE_USERNAME": "alice",
        "ALICE_HASHED_PASSWORD": gen_password(cli_tool, "alice-secret"),
        "ALICE_ROLE": "admin",
        "BOB_USERNAME": "bob",
        "BOB_HASHED_PASSWORD": gen_password(cli_tool, "bob-secret"),
        "BOB_ROLE": "guest",
        # An old deployment's hash, as the seed's gen_pwd script makes it.
        "CAROL_USERNAME": "carol",
        "CAROL_HASHED_PASSWORD": gen_password(cli_tool, "carol-secret", "--legacy-sha256"),
        "CAROL_ROLE": "user",
    }


@pytest.fixture(scope="module")
def server(cli_tool, smollm2_path, seed_env):
    s = ServerProcess(cli_tool, smollm2_path, "--served-model-name", "smollm2",
                      env=dict(os.environ, **seed_env))
    yield s
    assert s.stop() == 0, "".join(s.lines[-20:])


@pytest.fixture(scope="module")
def tokens(server):
    out = {}
    for user in ("alice", "bob"):
        status, body = curl_login(server.port, user, f"{user}-secret")
        assert status == 200, body
        out[user] = body["access_token"]
    return out


def test_alice_logs_in_with_curl_form_and_chats_with_the_openai_client(server):
    status, body = curl_login(server.port, "alice", "alice-secret")
    assert status == 200, body
    assert body["token_type"] == "bearer"
    assert 3500 <= body["expires_in"] <= 3600
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", body["access_token"])
    client = openai.OpenAI(base_url=server.url() + "/v1", api_key=body["access_token"],
                           max_retries=0)
    r = client.chat.completions.create(
        model="smollm2", max_tokens=8, temperature=0,
        messages=[{"role": "user", "content": "What is the capital of France?"}])
    assert r.choices[0].message.content
    assert r.usage.completion_tokens >= 1
    # Streaming with the token as well.
    text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="smollm2", max_tokens=8, temperature=0, stream=True,
        messages=[{"role": "user", "content": "What is the capital of France?"}]) if c.choices)
    assert text == r.choices[0].message.content


def test_urlencoded_login_and_token_answer_headers(server):
    status, headers, body = form_login(server, "bob", "bob-secret")
    assert status == 200, body
    assert headers.get("Cache-Control") == "no-store"
    assert json.loads(body)["token_type"] == "bearer"


def test_the_openai_client_without_a_valid_token_is_refused(server):
    client = openai.OpenAI(base_url=server.url() + "/v1", api_key="not-a-token", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


@pytest.mark.parametrize("method,path", API_ROUTES)
def test_every_v1_route_demands_a_valid_bearer_token(server, tokens, method, path):
    t = tokens["alice"]
    head, payload, sig = t.split(".")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    for headers in ({"Content-Type": "application/json"},          # missing
                    {"Authorization": "Basic YWxpY2U6eA=="},        # another scheme
                    {"Authorization": "Bearer"},                    # no credential
                    bearer("garbage"),                             # malformed
                    bearer(f"{head}.{payload}.{flipped}"),          # tampered signature
                    bearer(f"{head}.{payload[:-4]}.{sig}")):        # tampered payload
        status, h, body = request(server, method, path, body={}, headers=headers)
        assert status == 401, (headers, body)
        assert h.get("WWW-Authenticate", "").startswith("Bearer"), h
        assert_openai_error(body)


def test_open_routes_need_no_token(server):
    for path in ("/health", "/ready", "/metrics"):
        status, _, _ = request(server, "GET", path)
        assert status == 200, path


def test_bob_the_guest_can_infer_but_not_administer(server, tokens):
    status, _, body = request(server, "POST", "/v1/completions",
                              body={"model": "smollm2", "prompt": "Hello", "max_tokens": 4},
                              headers=bearer(tokens["bob"]))
    assert status == 200, body
    for method, path in (("GET", "/v1/admin/users"), ("POST", "/v1/admin/reload")):
        status, _, body = request(server, method, path, headers=bearer(tokens["bob"]))
        assert status == 403, body
        assert assert_openai_error(body)["type"] == "permission_error"


def test_admin_routes_for_alice_never_show_hashes(server, tokens, seed_env):
    status, _, body = request(server, "GET", "/v1/admin/users", headers=bearer(tokens["alice"]))
    assert status == 200, body
    users = json.loads(body)["data"]
    assert users == [{"username": "alice", "role": "admin"}, {"username": "bob", "role": "user"},
                     {"username": "carol", "role": "user"}]
    for alias in ("ALICE", "BOB", "CAROL"):
        assert seed_env[f"{alias}_HASHED_PASSWORD"].encode() not in body
    status, _, body = request(server, "POST", "/v1/admin/reload", headers=bearer(tokens["alice"]))
    assert status == 200, body
    assert json.loads(body) == {"status": "reloaded", "users": 3}


def test_legacy_hash_logs_in_with_a_warning_naming_the_user(server):
    status, _, body = form_login(server, "carol", "carol-secret")
    assert status == 200, body
    time.sleep(0.2)
    assert any("carol" in line and "legacy" in line for line in server.lines), server.lines[-5:]


def test_wrong_password_and_unknown_user_are_indistinguishable(server):
    a = form_login(server, "alice", "wrong-password")
    b = form_login(server, "nobody-by-this-name", "wrong-password")
    assert a[0] == b[0] == 401
    assert a[2] == b[2]
    assert a[1].get("WWW-Authenticate") == b[1].get("WWW-Authenticate")
    assert a[1]["WWW-Authenticate"].startswith("Bearer")
    assert_openai_error(a[2])
    # curl --form, as the seed sends it, gets the same answer.
    code, body = curl_login(server.port, "alice", "wrong-password")
    assert code == 401 and json.dumps(body, separators=(",", ":")) == a[2].decode()


def test_bad_login_bodies(server):
    status, _, body = request(server, "POST", "/token", raw="username=alice",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400 and b"password" in body
    status, _, body = request(server, "POST", "/token", raw='{"username": "alice"}',
                              headers={"Content-Type": "application/json"})
    assert status == 415, body
    status, _, _ = request(server, "GET", "/token")
    assert status == 405


def test_twenty_rapid_bad_logins_get_429_with_retry_after(server):
    answers = [form_login(server, "eve", f"guess-{i}") for i in range(20)]
    statuses = [a[0] for a in answers]
    assert statuses[0] == 401
    assert 429 in statuses, statuses
    first = statuses.index(429)
    assert all(s == 429 for s in statuses[first:]), statuses
    retry = answers[-1][1].get("Retry-After")
    assert retry is not None and 1 <= int(retry) <= 60, answers[-1][1]
    assert assert_openai_error(answers[-1][2])["type"] == "rate_limit_error"
    # Another user is not locked out by eve's failures.
    status, _, body = form_login(server, "bob", "bob-secret")
    assert status == 200, body


def secret_manifest(env):
    data = "\n".join(f"  {k}: {base64.b64encode(v.encode()).decode()}" for k, v in env.items())
    return ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: auth-config\n"
            f"type: Opaque\ndata:\n{data}\n")


def test_users_file_reload_revokes_changed_users(cli_tool, smollm2_path, tmp_path):
    """The seed's auth.yaml itself as --users-file; edits reload on SIGHUP."""
    env = {"JWT_KEY": jwt_key(cli_tool), "ACCESS_TOKEN_EXPIRE_MINUTES": "60",
           "SKIP_EXP_CHECK": "false", "USER_LIST": "ALICE, BOB",
           "ALICE_USERNAME": "alice", "ALICE_HASHED_PASSWORD": gen_password(cli_tool, "a1"),
           "ALICE_ROLE": "admin", "BOB_USERNAME": "bob",
           "BOB_HASHED_PASSWORD": gen_password(cli_tool, "b1"), "BOB_ROLE": "guest"}
    path = tmp_path / "auth.yaml"
    path.write_text(secret_manifest(env))
    clean = {k: v for k, v in os.environ.items() if k not in env}
    s = ServerProcess(cli_tool, smollm2_path, "--users-file", str(path), "--users-file-poll", "0",
                      env=clean)
    try:
        status, _, body = form_login(s, "bob", "b1")
        assert status == 200, body
        bob_token = json.loads(body)["access_token"]
        status, _, body = form_login(s, "alice", "a1")
        alice_token = json.loads(body)["access_token"]
        assert request(s, "GET", "/v1/models", headers=bearer(bob_token))[0] == 200

        # A broken edit is refused as a whole: the old users stay.
        path.write_text(secret_manifest(dict(env, BOB_ROLE="superuser")))
        s.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline and not any("refused" in l for l in s.lines):
            time.sleep(0.1)
        assert any("refused" in l and "superuser" in l for l in s.lines), s.lines[-5:]
        assert request(s, "GET", "/v1/models", headers=bearer(bob_token))[0] == 200

        # Bob's password changes: his old token stops working, alice's does not.
        path.write_text(secret_manifest(dict(env, BOB_HASHED_PASSWORD=gen_password(cli_tool, "b2"))))
        status, _, body = request(s, "POST", "/v1/admin/reload", headers=bearer(alice_token))
        assert status == 200, body
        status, _, body = request(s, "GET", "/v1/models", headers=bearer(bob_token))
        assert status == 401 and b"revoked" in body, body
        assert request(s, "GET", "/v1/models", headers=bearer(alice_token))[0] == 200
        assert form_login(s, "bob", "b1")[0] == 401
        assert form_login(s, "bob", "b2")[0] == 200
    finally:
        assert s.stop() == 0, "".join(s.lines[-20:])


def test_api_keys_for_service_accounts(cli_tool, smollm2_path):
    clean = {k: v for k, v in os.environ.items() if k != "USER_LIST"}
    key, admin_key = "service-key-0123456789", "admin-key-0123456789ab"
    s = ServerProcess(cli_tool, smollm2_path, "--served-model-name", "smollm2", "--api-key", key,
                      "--admin-api-key", admin_key, "--metrics-require-auth", env=clean)
    try:
        client = openai.OpenAI(base_url=s.url() + "/v1", api_key=key, max_retries=0)
        r = client.completions.create(model="smollm2", prompt="Hi", max_tokens=3)
        assert r.choices[0].text is not None
        assert request(s, "GET", "/v1/admin/users", headers=bearer(key))[0] == 403
        assert request(s, "GET", "/v1/admin/users", headers=bearer(admin_key))[0] == 200
        assert request(s, "GET", "/v1/models", headers=bearer(key + "x"))[0] == 401
        assert form_login(s, "alice", "x")[0] == 401  # no users: every login fails
        # --metrics-require-auth: /metrics wants a credential (any role); health probes do not.
        status, headers, _ = request(s, "GET", "/metrics")
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        status, _, body = request(s, "GET", "/metrics", headers=bearer(key))
        assert status == 200 and b"infer_num_requests_running" in body
        assert request(s, "GET", "/health")[0] == 200 and request(s, "GET", "/ready")[0] == 200
    finally:
        assert s.stop() == 0, "".join(s.lines[-20:])


def test_no_users_means_loopback_only(cli_tool, smollm2_path):
    clean = {k: v for k, v in os.environ.items() if k != "USER_LIST"}
    r = subprocess.run([cli_tool, "serve", smollm2_path, "--host", "0.0.0.0", "--port", "0"],
                       capture_output=True, text=True, timeout=120, env=clean)
    assert r.returncode == 1
    assert "--allow-unauthenticated" in r.stderr and "0.0.0.0" in r.stderr, r.stderr


def test_weak_jwt_key_and_skip_exp_check_refuse_to_start(cli_tool, smollm2_path, seed_env):
    for change, needle in (({"JWT_KEY": "default_jwt_Key"}, "gen-password --jwt-key"),
                           ({"JWT_KEY": "short"}, "32"),
                           ({"SKIP_EXP_CHECK": "true"}, "--insecure")):
        env = dict(os.environ, **{**seed_env, **change})
        r = subprocess.run([cli_tool, "serve", smollm2_path, "--port", "0"], capture_output=True,
                           text=True, timeout=120, env=env)
        assert r.returncode == 1, r.stderr
        assert needle in r.stderr, r.stderr


def test_insecure_honours_skip_exp_check_with_a_warning(cli_tool, smollm2_path, seed_env):
    env = dict(os.environ, **{**seed_env, "SKIP_EXP_CHECK": "true"})
    s = ServerProcess(cli_tool, smollm2_path, "--insecure", env=env)
    try:
        assert any("SKIP_EXP_CHECK" in l and "NOT" in l for l in s.lines), s.lines
        assert form_login(s, "alice", "alice-secret")[0] == 200
    finally:
        assert s.stop() == 0
