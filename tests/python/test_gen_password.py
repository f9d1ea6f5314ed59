"""infer-cli gen-password, checked against independent references: argon2-cffi verifies the
argon2id output, hashlib the legacy output; the Secret snippet decodes to the seed's layout; the
terminal prompt reads without echo and asks twice."""
import base64
import os
import re
import subprocess

import pytest


def run(cli, *args, stdin=""):
    return subprocess.run([cli, "gen-password", *args], input=stdin, capture_output=True,
                          text=True, timeout=60)


def test_password_stdin_is_argon2id_verified_by_argon2_cffi(cli_tool):
    argon2 = pytest.importorskip("argon2", reason="argon2-cffi (tests/requirements.txt)")
    r = run(cli_tool, "--password-stdin", stdin="correct horse\n")
    assert r.returncode == 0, r.stderr
    phc = r.stdout.strip()
    m = re.fullmatch(r"\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+",
                     phc)
    assert m, phc
    assert int(m.group(1)) >= 19456 and int(m.group(2)) >= 2 and int(m.group(3)) >= 1
    hasher = argon2.PasswordHasher()
    assert hasher.verify(phc, "correct horse")  # one trailing newline was dropped
    with pytest.raises(argon2.exceptions.VerifyMismatchError):
        hasher.verify(phc, "correct horse\n")


def test_custom_parameters_and_weak_ones_refused(cli_tool):
    argon2 = pytest.importorskip("argon2", reason="argon2-cffi (tests/requirements.txt)")
    r = run(cli_tool, "--password-stdin", "--memory-kib", "24576", "--iterations", "3",
            stdin="pw")
    assert r.returncode == 0, r.stderr
    assert "$m=24576,t=3,p=1$" in r.stdout
    assert argon2.PasswordHasher().verify(r.stdout.strip(), "pw")
    r = run(cli_tool, "--password-stdin", "--memory-kib", "4096", stdin="pw")
    assert r.returncode == 1 and r.stderr.startswith("infer-cli: ") and "m=4096" in r.stderr


def test_legacy_sha256_matches_hashlib(cli_tool):
    import hashlib
    r = run(cli_tool, "--password-stdin", "--legacy-sha256", stdin="my_password")
    assert r.returncode == 0, r.stderr
    salt, digest = r.stdout.strip().split("$")
    assert re.fullmatch(r"[0-9a-f]{32}", salt)
    assert digest == hashlib.sha256((salt + "my_password").encode("utf-8")).hexdigest()
    assert "legacy" in r.stderr


def test_jwt_key(cli_tool):
    a = run(cli_tool, "--jwt-key")
    b = run(cli_tool, "--jwt-key")
    assert a.returncode == 0 and b.returncode == 0
    key = a.stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{64}", key), key
    assert len(base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))) == 48
    assert key != b.stdout.strip()


def test_secret_snippet_in_the_seed_layout(cli_tool):
    argon2 = pytest.importorskip("argon2", reason="argon2-cffi (tests/requirements.txt)")
    r = run(cli_tool, "--password-stdin", "--username", "alice", "--role", "admin", "--alias",
            "ALICE", "--jwt-key", stdin="alice-pw")
    assert r.returncode == 0, r.stderr
    assert "kind: Secret" in r.stdout
    data = {}
    for line in r.stdout.splitlines():
        m = re.fullmatch(r"  ([A-Z0-9_]+): (\S+)(?:  # .*)?", line)
        if m:
            data[m.group(1)] = base64.b64decode(m.group(2), validate=True).decode()
    assert data["USER_LIST"] == "ALICE"
    assert data["ALICE_USERNAME"] == "alice"
    assert data["ALICE_ROLE"] == "admin"
    assert len(data["JWT_KEY"]) == 64
    assert argon2.PasswordHasher().verify(data["ALICE_HASHED_PASSWORD"], "alice-pw")
    # guest is the seed's name for user; the alias defaults to the username in capitals.
    r = run(cli_tool, "--password-stdin", "--username", "bob.b", "--role", "guest", stdin="x")
    assert r.returncode == 0, r.stderr
    assert "BOB_B_ROLE: dXNlcg==" in r.stdout  # "user"


@pytest.mark.parametrize("args,stdin,needle", [
    (["--password-stdin"], "", "empty"),
    (["--password-stdin", "--username", "a", "--role", "root"], "x", "--role"),
    (["--password-stdin", "--username", "a", "--alias", "A-B"], "x", "--alias"),
    (["--password-stdin"], "x" * 2000, "longer than"),
    ([], "pw\n", "--password-stdin"),  # stdin is a pipe, not a terminal
])
def test_errors_go_to_stderr_with_status_1(cli_tool, args, stdin, needle):
    r = run(cli_tool, *args, stdin=stdin)
    assert r.returncode == 1, r
    assert r.stdout == ""
    assert r.stderr.startswith("infer-cli: ") and needle in r.stderr, r.stderr


def _tty_run(cli, answers):
    """Runs gen-password on a pseudo-terminal, typing each answer after its prompt."""
    import pty
    import select
    main, sub = pty.openpty()
    proc = subprocess.Popen([cli, "gen-password"], stdin=sub, stdout=subprocess.PIPE,
                            stderr=sub, close_fds=True)
    os.close(sub)
    seen = b""
    for answer in answers:
        while b"assword: " not in seen.rsplit(b"\n", 1)[-1]:
            ready, _, _ = select.select([main], [], [], 30)
            assert ready, seen
            seen += os.read(main, 1024)
        os.write(main, answer.encode() + b"\n")
        seen += b"\n"
    out, _ = proc.communicate(timeout=60)
    try:
        while select.select([main], [], [], 0.2)[0]:
            seen += os.read(main, 1024)
    except OSError:
        pass
    os.close(main)
    return proc.returncode, out.decode(), seen.decode(errors="replace")


def test_terminal_prompt_without_echo_asks_twice(cli_tool):
    argon2 = pytest.importorskip("argon2", reason="argon2-cffi (tests/requirements.txt)")
    rc, out, terminal = _tty_run(cli_tool, ["tty-secret", "tty-secret"])
    assert rc == 0, terminal
    assert "Repeat password: " in terminal
    assert "tty-secret" not in terminal  # never echoed
    assert argon2.PasswordHasher().verify(out.strip(), "tty-secret")
    rc, out, terminal = _tty_run(cli_tool, ["one", "two"])
    assert rc == 1 and out == "" and "do not match" in terminal
