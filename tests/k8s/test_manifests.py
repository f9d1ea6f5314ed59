"""The Kubernetes manifests (k8s/): linted, schema-checked at a current Kubernetes version,
checked and stored by a real kube-apiserver, and run: each container's command, arguments and
environment are read from the rendered manifests, resolved as the kubelet would, and started on
loopback; then a user of the example Secret logs in and chats through the `openai` client, and
a preStop + SIGTERM during a stream ends the stream cleanly.

Environment:
  INFER_CLI              infer-cli (required for the run tests)
  INFER_SMOLLM2_GGUF     SmolLM2 Q4_1 (scripts/fetch_model.sh), the ConfigMap's MODEL_ID
  KUBE_APISERVER_SCRIPT  a script that `start DIR`s kube-apiserver + etcd with the
                         LeaderWorkerSet CRD and prints `export KUBECONFIG=...` (and `stop DIR`s
                         them); the server-side tests skip without it
"""

import base64
import copy
import functools
import http.client
import http.server
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import openai
import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
K8S = os.path.join(REPO, "k8s")
# Every kustomization a user applies: the overlays, and the extras applied beside them.
OVERLAYS = ["overlays/cpu", "overlays/gpu", "overlays/lws", "overlays/ingress",
            "extras/model-cache-fill", "extras/autoscaling"]
EXAMPLE_PASSWORDS = {"alice": "alice-example-password", "bob": "bob-example-password"}


def render(overlay):
    out = subprocess.run(["kubectl", "kustomize", os.path.join(K8S, overlay)],
                         check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def examples():
    """The example Secrets (k8s/examples), which no kustomization applies."""
    docs = []
    for name in sorted(os.listdir(os.path.join(K8S, "examples"))):
        with open(os.path.join(K8S, "examples", name)) as f:
            docs += [d for d in yaml.safe_load_all(f) if d]
    return docs


def render_with_examples(overlay):
    return examples() + render(overlay)


def find(docs, kind, name=None):
    for d in docs:
        if d["kind"] == kind and (name is None or d["metadata"]["name"] == name):
            return d
    raise KeyError(f"no {kind} {name or ''} in the rendered manifests")


def env_file(name, why):
    """The file $name names, or a skip saying what is missing."""
    path = os.environ.get(name)
    if not path or not os.path.isfile(path):
        pytest.skip(f"{name} is not set or names no file: {why}")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def kubectl():
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed (scripts/k8s_check.sh installs it)")


# ---- Lint and schemas ------------------------------------------------------------------------

def test_yamllint():
    r = subprocess.run(["yamllint", "-c", os.path.join(K8S, ".yamllint"), K8S],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_validate_strict(overlay, tmp_path):
    path = tmp_path / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(render_with_examples(overlay)))
    r = subprocess.run(["kubernetes-validate", "-k", "1.30.0", "--strict", "--quiet", str(path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    # The only thing it may not check is the LeaderWorkerSet (a custom resource).
    for line in (r.stdout + r.stderr).splitlines():
        assert "LeaderWorkerSet" in line, line


# ---- A real API server -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def apiserver(tmp_path_factory):
    script = env_file("KUBE_APISERVER_SCRIPT", "no kube-apiserver for server-side checks")
    work = str(tmp_path_factory.mktemp("apiserver"))
    r = subprocess.run([script, "start", work], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"export KUBECONFIG=(\S+)", r.stdout)
    assert m, r.stdout
    env = dict(os.environ, KUBECONFIG=m.group(1))
    yield env
    subprocess.run([script, "stop", work], capture_output=True, timeout=120)


def for_v1_20(docs):
    """The API server here is 1.20, which serves HorizontalPodAutoscaler as autoscaling/v2beta2
    at most (autoscaling/v2 came in 1.23; the autoscaling example uses it, as clusters from 1.26
    on require, and says so). The fields it uses are the same in both."""
    out = copy.deepcopy(docs)
    for d in out:
        if d["kind"] == "HorizontalPodAutoscaler" and d["apiVersion"] == "autoscaling/v2":
            d["apiVersion"] = "autoscaling/v2beta2"
    return out


def kubectl_run(env, *args, stdin=None):
    return subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_server_side_dry_run_apply_and_read_back(apiserver, overlay):
    docs = for_v1_20(render_with_examples(overlay))
    ns = "libinfer-" + overlay.replace("/", "-")
    kubectl_run(apiserver, "create", "namespace", ns)
    text = yaml.safe_dump_all(docs)
    r = kubectl_run(apiserver, "-n", ns, "apply", "--dry-run=server", "--validate=true",
                    "-f", "-", stdin=text)
    assert r.returncode == 0, r.stdout + r.stderr
    r = kubectl_run(apiserver, "-n", ns, "apply", "--server-side", "--validate=true", "-f", "-",
                    stdin=text)
    assert r.returncode == 0, r.stdout + r.stderr
    for d in docs:
        kind, name = d["kind"], d["metadata"]["name"]
        # Read back in the version applied (not the server's preferred one, which for an HPA
        # is autoscaling/v1 and drops its metrics).
        group, _, version = d["apiVersion"].rpartition("/")
        resource = f"{kind.lower()}.{version}.{group}" if group else kind.lower()
        r = kubectl_run(apiserver, "-n", ns, "get", resource, name, "-o", "json")
        assert r.returncode == 0, f"{kind}/{name}: {r.stderr}"
        stored = json.loads(r.stdout)
        assert stored["metadata"].get("labels") == d["metadata"].get("labels"), \
            f"{kind}/{name}: labels"
        for key in ("spec", "data", "stringData"):
            if key in d and key != "stringData":
                want, got = d[key], stored[key]
                assert _subset(want, got), f"{kind}/{name}: {key} was not stored as written"
        if "stringData" in d:
            got = {k: base64.b64decode(v).decode() for k, v in stored.get("data", {}).items()}
            assert got == {k: str(v) for k, v in d["stringData"].items()}, f"{kind}/{name}"


def _subset(want, got):
    """Everything the manifest says is in what the server stored (which adds defaults)."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and _subset(v, got[k])
                                             for k, v in want.items())
    if isinstance(want, list):
        return isinstance(got, list) and len(want) == len(got) and all(
            _subset(a, b) for a, b in zip(want, got))
    if isinstance(want, (int, float)) and isinstance(got, str):  # quantities: 1 vs "1"
        return str(want) == got
    return want == got or str(want) == str(got)


def _broken_variants():
    docs = render("overlays/cpu")
    dep = find(docs, "Deployment")

    def variant(edit):
        d = copy.deepcopy(dep)
        edit(d)
        return d

    def selector(d):
        d["spec"]["selector"]["matchLabels"] = {"app.kubernetes.io/component": "elsewhere"}

    def long_port_name(d):
        d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["name"] = "a-port-name-too-long"

    def string_replicas(d):
        d["spec"]["replicas"] = "two"

    def unknown_field(d):
        d["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}

    return [("selector does not match the template's labels", variant(selector), "selector"),
            ("port name over 15 characters", variant(long_port_name), "15"),
            ("a string where a number belongs", variant(string_replicas), "replicas"),
            ("a misspelt field", variant(unknown_field), "livenesProbe")]


@pytest.mark.parametrize("what,doc,needle", _broken_variants(), ids=lambda v: v
                         if isinstance(v, str) and " " in v else None)
def test_broken_variants_are_refused(apiserver, what, doc, needle):
    kubectl_run(apiserver, "create", "namespace", "libinfer-broken")
    r = kubectl_run(apiserver, "-n", "libinfer-broken", "apply", "--dry-run=server",
                    "--validate=true", "-f", "-", stdin=yaml.safe_dump(doc))
    assert r.returncode != 0, f"{what}: accepted"
    assert needle in r.stderr, f"{what}: {r.stderr}"


# ---- Running what the manifests say ----------------------------------------------------------

def test_no_object_shares_the_leader_worker_sets_name():
    """The LeaderWorkerSet controller makes the headless Service that gives the group's pods their
    DNS names (LWS_LEADER_ADDRESS is `<lws>-0.<lws>.<namespace>`), named like the LWS, and only
    when no Service of that name exists: an object of ours with that name (the API Service,
    applied first by `kubectl apply -k`) would leave the workers unable to find their leader."""
    lws_names = {d["metadata"]["name"] for d in render("overlays/lws")
                 if d["kind"] == "LeaderWorkerSet"}
    assert lws_names
    for overlay in OVERLAYS:
        for d in render_with_examples(overlay):
            if d["kind"] == "LeaderWorkerSet":
                continue
            assert d["metadata"]["name"] not in lws_names, \
                f"{overlay}: {d['kind']} {d['metadata']['name']} is named like the LeaderWorkerSet"


class HostsFile:
    """A hosts file the test controls, seen as /etc/hosts by the processes it wraps (each in a
    mount namespace of its own with the file bind-mounted over /etc/hosts): the pods' names
    resolve through the system resolver exactly as cluster DNS would answer, and only once the
    test publishes them. Rewritten in place, so the bind mount sees every change."""

    def __init__(self, path):
        self.path = path
        self.names = {}
        self._write()

    def _write(self):
        with open(self.path, "w") as f:
            f.write("127.0.0.1 localhost\n::1 localhost\n")
            for name, address in self.names.items():
                f.write(f"{address} {name}\n")

    def publish(self, name, address="127.0.0.1"):
        self.names[name] = address
        self._write()

    def wrap(self, argv):
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount --bind "$0" /etc/hosts && exec "$@"', self.path, *argv]

    @staticmethod
    def usable():
        try:
            return subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                                  capture_output=True, timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False


def lws_headless_service_names(docs, namespace):
    """The DNS names the LeaderWorkerSet controller publishes for group 0: `<lws>-0.<lws>.<ns>`
    for the leader, through the headless Service it creates, which it does not create when a
    Service of the LWS's name already exists (then no pod name resolves)."""
    lws = find(docs, "LeaderWorkerSet")["metadata"]["name"]
    taken = any(d["kind"] == "Service" and d["metadata"]["name"] == lws for d in docs)
    return lws, (None if taken else f"{lws}-0.{lws}.{namespace}")


class Pod:
    """One container of the rendered manifests, run as the kubelet would run it, on loopback:
    env from envFrom/env (ConfigMap and Secret values, the downward API, $(VAR) references),
    each volume mount a folder of this test (the model cache holds the model; a Secret volume
    its keys as files), the pod's ports replaced by free loopback ports."""

    def __init__(self, cli, docs, pod_spec, container, tmp, pod_name, extra_env=None,
                 secrets=None, cache_dir=None, ports=None, hosts=None):
        self.secrets = secrets or {}
        env = {"HOME": tmp, "PATH": os.environ.get("PATH", "")}
        for src in container.get("envFrom", []):
            if "configMapRef" in src:
                env.update(find(docs, "ConfigMap", src["configMapRef"]["name"])["data"])
            if "secretRef" in src:
                env.update(self.secret(docs, src["secretRef"]["name"]))
        env.update(extra_env or {})
        for e in container.get("env", []):
            if "value" in e:
                env[e["name"]] = expand(e["value"], env)
            else:
                ref = e["valueFrom"]
                if "secretKeyRef" in ref:
                    k = ref["secretKeyRef"]
                    env[e["name"]] = self.secret(docs, k["name"])[k["key"]]
                elif "configMapKeyRef" in ref:
                    k = ref["configMapKeyRef"]
                    env[e["name"]] = find(docs, "ConfigMap", k["name"])["data"][k["key"]]
                elif "resourceFieldRef" in ref:
                    env[e["name"]] = resource_field(container, ref["resourceFieldRef"])
                elif "fieldRef" in ref:
                    env[e["name"]] = {"metadata.name": pod_name, "metadata.namespace": "default",
                                      "status.podIP": "127.0.0.1"}[ref["fieldRef"]["fieldPath"]]
        volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
        self.mounts = {}
        for m in container.get("volumeMounts", []):
            v = volumes[m["name"]]
            host = os.path.join(tmp, pod_name, m["name"])
            if "persistentVolumeClaim" in v and v["persistentVolumeClaim"]["claimName"] == \
                    "model-cache-pvc":
                host = cache_dir
            elif "secret" in v:
                os.makedirs(host, exist_ok=True)
                for k, val in self.secret(docs, v["secret"]["secretName"]).items():
                    with open(os.path.join(host, k), "w") as f:
                        f.write(val)
            else:
                os.makedirs(host, exist_ok=True)
            self.mounts[m["mountPath"]] = host
        args = [expand(a, env) for a in container.get("args", [])]
        self.ports = dict(ports or {})
        for i, a in enumerate(args[:-1]):
            if a == "--port":
                self.ports.setdefault(int(args[i + 1]), free_port())
                args[i + 1] = str(self.ports[int(args[i + 1])])
        env = {k: self.remap(v) for k, v in env.items()}
        self.env = env
        # No `command`: the image's entrypoint, infer-cli.
        command = container.get("command") or [cli]
        self.argv = [*command, *[self.remap(a) for a in args]]
        self.lines = []
        self.proc = subprocess.Popen(hosts.wrap(self.argv) if hosts else self.argv, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.drain = threading.Thread(target=self._drain, daemon=True)
        self.drain.start()

    def secret(self, docs, name):
        if name in self.secrets:
            return self.secrets[name]
        s = find(docs, "Secret", name)
        out = {k: str(v) for k, v in s.get("stringData", {}).items()}
        out.update({k: base64.b64decode(v).decode() for k, v in s.get("data", {}).items()})
        return out

    def remap(self, value):
        for path, host in sorted(self.mounts.items(), key=lambda p: -len(p[0])):
            if value == path or value.startswith(path + "/"):
                return host + value[len(path):]
        return value

    def _drain(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait(self, timeout):
        """The exit status, once every line the process wrote has been read."""
        rc = self.proc.wait(timeout=timeout)
        self.drain.join(timeout=10)
        return rc

    def log(self):
        return "".join(self.lines[-30:])

    def port(self, container_port):
        return self.ports[container_port]

    def wait_ready(self, port, timeout=180):
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, f"exited {self.proc.returncode}: {self.log()}"
            try:
                if get(port, "/ready")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("never ready: " + self.log())

    def stop(self, timeout=120):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def quantity(text):
    """A Kubernetes quantity ("2", "500m", "1Gi") as a number."""
    suffixes = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    text = str(text)
    for suffix in sorted(suffixes, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[:-len(suffix)]) * suffixes[suffix]
    return float(text)


def resource_field(container, ref):
    """The downward API's resourceFieldRef: the container's limit (or request) over the divisor,
    rounded up. A pod without that limit would get the node's allocatable amount: 2 CPUs here,
    the size of the machine these tests run on."""
    kind, name = ref["resource"].split(".", 1)
    resources = container.get("resources", {})
    value = resources.get(kind, {}).get(name)
    if value is None:
        value = os.cpu_count() if name == "cpu" else 2**31
    return str(math.ceil(quantity(value) / quantity(ref.get("divisor", "1"))))


def expand(value, env):
    """Kubernetes' $(VAR) expansion: known variables are replaced, $$ escapes, others stay."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), value)


def get(port, path, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    out = r.status, r.read()
    c.close()
    return out


def login(port, username, password):
    body = f"username={username}&password={password}"
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", "/token", body=body,
              headers={"Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse()
    data = r.read()
    c.close()
    assert r.status == 200, data
    return json.loads(data)["access_token"]


@pytest.fixture(scope="module")
def cli():
    path = os.environ.get("INFER_CLI")
    if not path or not os.access(path, os.X_OK):
        pytest.skip("INFER_CLI is not set or not executable")
    return path


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory):
    """The shared model cache volume, holding the ConfigMap's MODEL_ID."""
    model = env_file("INFER_SMOLLM2_GGUF", "the model (scripts/fetch_model.sh)")
    cache = str(tmp_path_factory.mktemp("model-cache"))
    model_id = find(render("overlays/cpu"), "ConfigMap", "libinfer-settings")["data"]["MODEL_ID"]
    assert model_id.startswith("/data/model-cache/"), model_id
    os.symlink(model, os.path.join(cache, os.path.basename(model_id)))
    return cache


def filled_secrets(docs):
    """The example Secrets with the values their comments tell the user to fill in."""
    users = {k: str(v) for k, v in find(docs, "Secret", "auth-config")["stringData"].items()}
    users["JWT_KEY"] = subprocess.run([os.environ["INFER_CLI"], "gen-password", "--jwt-key"],
                                      check=True, capture_output=True, text=True).stdout.strip()
    return {"auth-config": users,
            "libinfer-cluster": {"secret": base64.b64encode(os.urandom(32)).decode()}}


def test_the_example_secret_refuses_to_start_until_filled(cli, model_cache, tmp_path):
    docs = render_with_examples("overlays/cpu")
    dep = find(docs, "Deployment")["spec"]["template"]["spec"]
    pod = Pod(cli, docs, dep, dep["containers"][0], str(tmp_path), "server-0",
              cache_dir=model_cache)
    assert pod.wait(timeout=60) != 0
    assert "JWT_KEY" in pod.log(), pod.log()


def chat_and_stream_through_sigterm(pod, api_port, prestop):
    token = login(api_port, "alice", EXAMPLE_PASSWORDS["alice"])
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{api_port}/v1", api_key=token,
                           max_retries=0)
    served = client.models.list().data[0].id
    assert served == pod.env["MODEL_NAME"]
    reply = client.chat.completions.create(
        model=served, max_tokens=16, temperature=0,
        messages=[{"role": "user", "content": "What is the capital of France?"}])
    assert reply.choices[0].message.content
    assert reply.usage.completion_tokens > 0
    # bob is a guest: the user role, no admin routes.
    bob = login(api_port, "bob", EXAMPLE_PASSWORDS["bob"])
    assert get(api_port, "/v1/admin/users", {"Authorization": f"Bearer {bob}"})[0] == 403

    # A long stream; the kubelet runs preStop (a 5 s pause), then sends SIGTERM; the stream,
    # still running then (1200 tokens outlast the pause at any rate seen here), finishes.
    stream = client.chat.completions.create(
        model=served, max_tokens=1200, temperature=0, stream=True,
        extra_body={"ignore_eos": True},
        messages=[{"role": "user", "content": "Tell me a long story."}])
    pieces, finish = [], None
    stopper, sigterm_at = None, []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
        if stopper is None and len(pieces) >= 4:
            def stop():
                subprocess.run(prestop, check=True)
                sigterm_at.append(time.monotonic())
                pod.proc.send_signal(signal.SIGTERM)
            stopper = threading.Thread(target=stop)
            stopper.start()
    ended_at = time.monotonic()
    stopper.join()
    # The stream was still running when SIGTERM came, and finished rather than being cut
    # (a cut stream says "abort").
    assert sigterm_at[0] < ended_at, "the stream ended before SIGTERM was sent"
    assert finish == "length", "".join(pieces)
    assert len(pieces) > 100
    assert pod.proc.wait(timeout=120) == 0, pod.log()


def test_single_host_deployment_runs_as_written(cli, model_cache, tmp_path):
    docs = render_with_examples("overlays/cpu")
    spec = find(docs, "Deployment")["spec"]["template"]["spec"]
    container = spec["containers"][0]
    pod = Pod(cli, docs, spec, container, str(tmp_path), "server-0", secrets=filled_secrets(docs),
              cache_dir=model_cache)
    try:
        api = pod.port(container["ports"][0]["containerPort"])
        # The probes, as the kubelet would call them.
        pod.wait_ready(pod.port(8000))
        # The model's threads are the container's CPU limit (the downward API), not the node's.
        assert pod.env["INFER_THREADS"] == str(math.ceil(quantity(
            container["resources"]["limits"]["cpu"]))), pod.env["INFER_THREADS"]
        assert f"{pod.env['INFER_THREADS']} threads" in "".join(pod.lines), pod.log()
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert get(api, container["livenessProbe"]["httpGet"]["path"])[0] == 200
        chat_and_stream_through_sigterm(pod, api, container["lifecycle"]["preStop"]["exec"][
            "command"])
    finally:
        pod.stop()


def test_leader_worker_set_runs_as_written(cli, model_cache, tmp_path):
    """The LWS overlay's leader and worker as the controller and the kubelet would start them:
    LWS_LEADER_ADDRESS is the leader pod's DNS name, resolved through the system resolver, and
    it resolves only if the controller could make its headless Service (no Service of ours takes
    its name). The worker pod starts first, before the leader's name exists, and must wait for
    it rather than give up."""
    if not HostsFile.usable():
        pytest.skip("cannot make a mount namespace (unshare --mount) to give the pods a hosts "
                    "file: this test needs root or user namespaces")
    docs = render_with_examples("overlays/lws")
    lws = find(docs, "LeaderWorkerSet")["spec"]["leaderWorkerTemplate"]
    size = lws["size"]
    secrets = filled_secrets(docs)
    rendezvous = free_port()
    hosts = HostsFile(str(tmp_path / "hosts"))
    lws_name, leader_dns = lws_headless_service_names(docs, "default")
    # What the LWS controller injects into every pod of group 0.
    lws_env = {"LWS_LEADER_ADDRESS": f"{lws_name}-0.{lws_name}.default",
               "LWS_GROUP_SIZE": str(size)}
    leader_spec = lws["leaderTemplate"]["spec"]
    leader_c = leader_spec["containers"][0]

    def with_port(container):
        c = copy.deepcopy(container)
        for e in c.get("env", []):
            if e["name"] == "INFER_CLUSTER_PORT":
                e["value"] = str(rendezvous)  # the pod's own 29500
        return c

    workers = []
    leader = None
    try:
        worker_spec = lws["workerTemplate"]["spec"]
        for index in range(1, size):
            workers.append(Pod(cli, docs, worker_spec, with_port(worker_spec["containers"][0]),
                               str(tmp_path), f"{lws_name}-0-{index}",
                               extra_env=dict(lws_env, LWS_WORKER_INDEX=str(index)),
                               secrets=secrets, cache_dir=model_cache, hosts=hosts))
        # The leader pod is scheduled 5 s later; its name is published when it exists.
        time.sleep(5)
        for w in workers:
            assert w.proc.poll() is None, "a worker gave up before its leader came: " + w.log()
            assert "cannot reach " + lws_env["LWS_LEADER_ADDRESS"] in "".join(w.lines), w.log()
        assert leader_dns == lws_env["LWS_LEADER_ADDRESS"], \
            f"a Service named {lws_name} keeps the controller from publishing the pods' names"
        hosts.publish(leader_dns)
        leader = Pod(cli, docs, leader_spec, with_port(leader_c), str(tmp_path), f"{lws_name}-0",
                     extra_env=dict(lws_env, LWS_WORKER_INDEX="0"), secrets=secrets,
                     cache_dir=model_cache, hosts=hosts)
        api = leader.port(8000)
        leader.wait_ready(api)
        assert "rank 1 of 2 joined" in "".join(leader.lines), leader.log()
        chat_and_stream_through_sigterm(leader, api, leader_c["lifecycle"]["preStop"]["exec"][
            "command"])
        for w in workers:
            assert w.proc.wait(timeout=60) == 0, w.log()
    finally:
        if leader is not None:
            leader.stop()
        for w in workers:
            w.stop()


def test_the_model_cache_job_fills_the_cache_and_checks_the_file(tmp_path):
    """The Job's own script, run with curl against a local HTTP server holding the model."""
    model = env_file("INFER_SMOLLM2_GGUF", "the model (scripts/fetch_model.sh)")
    if shutil.which("curl") is None or shutil.which("sha256sum") is None:
        pytest.skip("curl or sha256sum is not installed")
    docs = render("extras/model-cache-fill")
    spec = find(docs, "Job")["spec"]["template"]["spec"]
    container = spec["containers"][0]
    served = tmp_path / "served"
    served.mkdir()
    os.symlink(model, served / "model.gguf")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/model.gguf"
    cache = str(tmp_path / "cache")
    os.makedirs(cache)

    def run_job(name, **env):
        c = copy.deepcopy(container)
        for e in c["env"]:
            e["value"] = env.get(e["name"], e["value"])
        pod = Pod(None, docs, spec, c, str(tmp_path), name, cache_dir=cache)
        return pod.wait(timeout=120), pod

    try:
        # The manifest's MODEL_SHA256 is the default model's: the first run checks it.
        rc, pod = run_job("fill-0", MODEL_URL=url)
        assert rc == 0, pod.log()
        target = pod.remap(pod.env["MODEL_FILE"])
        assert os.path.getsize(target) == os.path.getsize(model), pod.log()
        rc, pod = run_job("fill-1", MODEL_URL=url)
        assert rc == 0 and "already there" in pod.log(), pod.log()
        os.remove(target)
        rc, pod = run_job("fill-2", MODEL_URL=url, MODEL_SHA256="0" * 64)
        assert rc != 0 and "sha256 mismatch" in pod.log(), pod.log()
        assert not os.path.exists(target)
    finally:
        httpd.shutdown()


# ---- The guide ------------------------------------------------------------------------------

def guide_blocks():
    """The ```sh blocks of k8s/README.md, by the heading they stand under."""
    with open(os.path.join(K8S, "README.md")) as f:
        text = f.read()
    blocks, heading = [], None
    for m in re.finditer(r"^(#+ [^\n]*)$|^ *```sh\n(.*?)^ *```$", text, re.M | re.S):
        if m.group(1):
            heading = m.group(1)
        else:
            lines = [line[3:] if line.startswith("   ") else line
                     for line in m.group(2).splitlines()]
            blocks.append((heading, "\n".join(lines) + "\n"))
    return blocks


# Commands of the guide that need what a test machine lacks: a registry and the image tools, a
# running pod (waits, port-forward, curl to it), the network (the LWS controller's manifest).
NOT_RUN_HERE = re.compile(r"^\s*(k8s/build_image\.sh|skopeo |\(cd k8s/overlays/\S+ && kustomize |"
                          r"kubectl -n \S+ (wait|rollout status|port-forward)|"
                          r"kubectl apply --server-side -f https://|TOKEN=\$\(curl |curl )")


def guide_commands(block):
    """The block's commands, one a line (continuations joined), less those NOT_RUN_HERE."""
    joined = re.sub(r"\\\n|\|\n", lambda m: " " if m.group(0) != "|\n" else "| ", block)
    return [line for line in joined.splitlines() if line.strip() and not NOT_RUN_HERE.match(line)]


def test_the_guides_commands_parse_and_name_what_exists():
    blocks = guide_blocks()
    assert len(blocks) >= 6, blocks
    for heading, block in blocks:
        r = subprocess.run(["bash", "-n"], input=block, capture_output=True, text=True)
        assert r.returncode == 0, f"{heading}: {r.stderr}\n{block}"
        for path in re.findall(r"\bk8s/[\w./-]+", block):
            assert os.path.exists(os.path.join(REPO, path.rstrip("/."))), f"{heading}: {path}"
        for tool in re.findall(r"^\s*\(?(?:cd \S+ && )?([a-z][\w-]+) ", block, re.M):
            if tool not in ("cd", "kubectl", "printf", "curl", "head", "base64", "python3"):
                assert tool in open(os.path.join(K8S, "README.md")).read().split(
                    "## From an empty cluster")[0], f"{heading}: {tool} is not in 'What you need'"


def test_the_guide_runs_in_order(apiserver, cli, tmp_path):
    """The guide's commands, in the README's order, in one shell as a user would type them,
    against a fresh namespace of a real API server (kube-apiserver 1.20 + etcd, no controllers):
    every kubectl command must succeed as written; the cache Job runs twice (another model the
    second time); the cache PVC exists before the Deployment that mounts it is applied; the
    objects each step promises exist afterwards."""
    work = tmp_path / "repo"
    (work / "build" / "cli").mkdir(parents=True)
    shutil.copytree(K8S, work / "k8s")
    os.symlink(cli, work / "build" / "cli" / "infer-cli")
    env = dict(apiserver, HOME=str(tmp_path))
    kubectl_run(apiserver, "delete", "namespace", "llm")
    steps = [(h, b) for h, b in guide_blocks()
             if h and ("From an empty cluster" in h or "several hosts" in h)]
    script = []
    for heading, block in steps:
        commands = guide_commands(block)
        if any("apply -k k8s/overlays/cpu" in c for c in commands):
            script.append("kubectl -n llm get pvc model-cache-pvc >/dev/null || "
                          "{ echo 'no cache PVC before the Deployment' >&2; exit 9; }")
        script += commands
        if any("apply -k k8s/extras/model-cache-fill" in c for c in commands):
            # Again, for another model: a Job's template cannot change; the guide deletes it.
            script.append("sed -i s/SmolLM2-135M-Instruct.Q4_1.gguf/another-model.gguf/ "
                          "k8s/extras/model-cache-fill/job.yaml")
            script += commands
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(script)], cwd=work, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, "\n".join(script) + "\n" + r.stdout + r.stderr
    for kind, name in [("secret", "auth-config"), ("pvc", "model-cache-pvc"),
                       ("job", "model-cache-fill"), ("deployment", "libinfer"),
                       ("service", "libinfer"), ("secret", "libinfer-cluster"),
                       ("leaderworkerset", "libinfer-lws"), ("service", "libinfer-api")]:
        r = kubectl_run(apiserver, "-n", "llm", "get", kind, name, "-o", "json")
        assert r.returncode == 0, f"{kind}/{name} is missing after the guide: {r.stderr}"
    users = json.loads(kubectl_run(apiserver, "-n", "llm", "get", "secret", "auth-config", "-o",
                                   "json").stdout)["data"]
    assert base64.b64decode(users["JWT_KEY"]) and "ALICE_HASHED_PASSWORD" in users
    job = json.loads(kubectl_run(apiserver, "-n", "llm", "get", "job", "model-cache-fill", "-o",
                                 "json").stdout)
    assert "another-model.gguf" in json.dumps(job["spec"]["template"])
