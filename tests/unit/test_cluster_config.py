"""cluster/ and scripts/: the Ray launcher config against Ray's own schema, the KubeRay
RayJob's required fields, token auth and a private dashboard in both, and the scripts'
arguments (without starting anything)."""
from __future__ import annotations

import copy
import json
import os
import shlex
import subprocess
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml

from distgrad.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = REPO / "cluster" / "ray-cluster.yaml"
RAYJOB = REPO / "cluster" / "rayjob.yaml"
SCRIPTS = REPO / "scripts"


@pytest.fixture(scope="module")
def launcher() -> dict:
    return yaml.safe_load(LAUNCHER.read_text())


@pytest.fixture(scope="module")
def ray_schema() -> dict:
    path = Path(ray.autoscaler.__file__).parent / "ray-schema.json"
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def rayjob() -> dict:
    docs = [d for d in yaml.safe_load_all(RAYJOB.read_text()) if d]
    (job,) = [d for d in docs if d.get("kind") == "RayJob"]
    return job


# ---- the Ray cluster launcher config ------------------------------------------------------------

def test_launcher_config_valid_under_rays_schema(launcher, ray_schema):
    jsonschema.validate(launcher, ray_schema)


def test_launcher_config_passes_rays_own_checks(launcher):
    # What `ray up` does before launching anything: fill in the provider's defaults, validate.
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(copy.deepcopy(launcher)))


def test_the_schema_check_is_real(launcher, ray_schema):
    broken = copy.deepcopy(launcher)
    del broken["provider"]["type"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, ray_schema)
    broken = copy.deepcopy(launcher)
    broken["available_node_types"]["ray.head.default"]["surprise"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, ray_schema)


def test_launcher_token_auth_on_every_node(launcher):
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        starts = [c for c in launcher[key] if "ray start" in c]
        assert starts, key
        for cmd in starts:
            assert "RAY_AUTH_MODE=token" in cmd.split("ray start")[0], cmd
    # the token: the same file on every node, private
    assert launcher["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    assert any("chmod 600 ~/.ray/auth_token" in c for c in launcher["setup_commands"])


def test_launcher_dashboard_not_exposed(launcher):
    (head,) = [c for c in launcher["head_start_ray_commands"] if "ray start" in c]
    assert "--dashboard-host=127.0.0.1" in head
    assert "0.0.0.0" not in json.dumps(launcher)


def test_launcher_installs_the_jobs_dependencies(launcher):
    setup = " ".join(launcher["setup_commands"])
    for dep in ("ray[default]==" + ray.__version__, "numpy", "msgpack", "scikit-learn", "tqdm",
                "matplotlib"):
        assert dep in setup, dep


# ---- the KubeRay RayJob -------------------------------------------------------------------------

def _containers(group: dict) -> list:
    return group["template"]["spec"]["containers"]


def test_rayjob_has_the_fields_kuberay_requires(rayjob):
    assert rayjob["apiVersion"] == "ray.io/v1"
    assert rayjob["kind"] == "RayJob"
    assert rayjob["metadata"]["name"]
    spec = rayjob["spec"]
    assert isinstance(spec["entrypoint"], str) and spec["entrypoint"]
    cluster = spec["rayClusterSpec"]  # (or clusterSelector, for an existing cluster)
    head = cluster["headGroupSpec"]
    assert isinstance(head.get("rayStartParams", {}), dict)
    assert all(isinstance(v, str) for v in head.get("rayStartParams", {}).values())
    for c in _containers(head):
        assert c["name"] and c["image"]
    assert cluster["workerGroupSpecs"]
    for group in cluster["workerGroupSpecs"]:
        assert group["groupName"]
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        assert all(isinstance(v, str) for v in group.get("rayStartParams", {}).values())
        for c in _containers(group):
            assert c["name"] and c["image"]
    assert spec["submissionMode"] in ("K8sJobMode", "HTTPMode", "SidecarMode",
                                      "InteractiveMode")
    assert isinstance(spec["shutdownAfterJobFinishes"], bool)


def test_rayjob_ray_version_matches_its_images(rayjob):
    cluster = rayjob["spec"]["rayClusterSpec"]
    version = cluster["rayVersion"]
    groups = [cluster["headGroupSpec"]] + cluster["workerGroupSpecs"]
    for group in groups:
        for c in _containers(group):
            assert c["image"].split(":", 1)[1].startswith(version + "-"), c["image"]


def test_rayjob_runs_distgrad_train(rayjob):
    words = shlex.split(rayjob["spec"]["entrypoint"])
    assert words[:4] == ["python", "-m", "distgrad", "train"]
    args = build_parser().parse_args(words[3:])  # the flags are ones distgrad train accepts
    assert args.address == "auto" and args.workers == 2 and not args.sharded
    env = yaml.safe_load(rayjob["spec"]["runtimeEnvYAML"])
    assert env["working_dir"].endswith(".zip")
    assert {"scikit-learn", "tqdm", "matplotlib"} <= {p.split(">")[0].split("=")[0]
                                                      for p in env["pip"]}
    # enough worker CPUs for the workers (each asks for one) outside the head
    cluster = rayjob["spec"]["rayClusterSpec"]
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    cpus = sum(int(g["rayStartParams"]["num-cpus"]) * g["replicas"]
               for g in cluster["workerGroupSpecs"])
    assert cpus >= args.workers


def test_rayjob_token_auth_and_private_dashboard(rayjob):
    cluster = rayjob["spec"]["rayClusterSpec"]
    assert cluster["authOptions"]["mode"] == "token"
    head = cluster["headGroupSpec"]
    assert head["serviceType"] == "ClusterIP"
    assert head.get("enableIngress", False) is False
    text = json.dumps(rayjob)  # the manifest's values, not its comments
    for exposed in ("NodePort", "LoadBalancer", "hostPort", "nodePort"):
        assert exposed not in text
    kinds = [d.get("kind") for d in yaml.safe_load_all(RAYJOB.read_text()) if d]
    assert kinds == ["RayJob"]  # no Service, Ingress or Route beside it


# ---- scripts ------------------------------------------------------------------------------------

@pytest.mark.parametrize("script", ["submit.sh", "local_cluster.sh"])
def test_scripts_parse_and_are_executable(script):
    path = SCRIPTS / script
    assert os.access(path, os.X_OK)
    subprocess.run(["bash", "-n", str(path)], check=True)


def test_submit_help_and_bad_args():
    proc = subprocess.run([str(SCRIPTS / "submit.sh"), "--help"], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0
    assert "ray job submit" in proc.stdout and "--submission-id" in proc.stdout
    proc = subprocess.run([str(SCRIPTS / "submit.sh"), "--address"], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2 and "--address needs a value" in proc.stderr


def test_submit_needs_a_token(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env["HOME"] = str(tmp_path)  # no ~/.ray/auth_token here
    proc = subprocess.run([str(SCRIPTS / "submit.sh"), "--epochs", "1"], capture_output=True,
                          text=True, timeout=30, env=env)
    assert proc.returncode == 2
    assert "no Ray token" in proc.stderr


def test_local_cluster_usage_status_and_stop_of_nothing(tmp_path):
    script = str(SCRIPTS / "local_cluster.sh")
    env = dict(os.environ, DISTGRAD_CLUSTER_DIR=str(tmp_path / "none"))
    proc = subprocess.run([script], capture_output=True, text=True, timeout=30, env=env)
    assert proc.returncode == 2 and "usage:" in proc.stderr
    proc = subprocess.run([script, "status"], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 1 and "not running" in proc.stdout
    proc = subprocess.run([script, "stop"], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0 and "no processes of the cluster" in proc.stdout
