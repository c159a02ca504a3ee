#!/usr/bin/env python3
"""Checks packaging/kubernetes/ statically, against the Dockerfile, the sample and the
agtpd binary: the manifests parse and kustomization.yaml lists them all; the site
ConfigMaps hold the booking sample's files unchanged; the agtpd.toml in the ConfigMap
passes `agtpd --check-config`; its ports, paths, socket and TLS files agree with the
Deployment, the Service, the PodMonitor, the Secret and the runtime container; the uid,
config path, writable volumes and probe commands agree with the Dockerfile.

    python3 .ci/kubernetes.py [path/to/agtpd]
"""

import os
import subprocess
import sys
import tempfile
import tomllib

import yaml

sys.path.insert(0, os.path.dirname(__file__))
from dockerfile_final_stage import final_stage  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..")
K8S = os.path.join(ROOT, "packaging/kubernetes")
problems = []


def check(ok, what):
    if not ok:
        problems.append(what)


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def main(agtpd):
    docs = {}
    for name in sorted(os.listdir(K8S)):
        if name.endswith(".yaml"):
            with open(os.path.join(K8S, name), encoding="utf-8") as f:
                docs[name] = [d for d in yaml.safe_load_all(f) if d]
    listed = set(docs.pop("kustomization.yaml")[0]["resources"])
    check(listed == set(docs), f"kustomization.yaml lists {sorted(listed)}, the folder has {sorted(docs)}")
    objects = {(d["kind"], d["metadata"]["name"]): d for ds in docs.values() for d in ds}
    config_map = lambda name: objects[("ConfigMap", name)]["data"]  # noqa: E731

    # The site: the sample's files, byte for byte.
    for name, folder in [("agtpd-agents", "agents"), ("agtpd-endpoints", "endpoints")]:
        data = config_map(name)
        sample = os.path.join(ROOT, "samples/booking", folder)
        files = sorted(f for f in os.listdir(sample) if f.endswith((".json", ".toml")))
        check(sorted(data) == files, f"{name}: keys {sorted(data)}, sample files {files}")
        for key in files:
            with open(os.path.join(sample, key), encoding="utf-8") as f:
                check(data.get(key) == f.read(), f"{name}: {key} differs from samples/booking/{folder}/{key}")

    text = config_map("agtpd-config")["agtpd.toml"]
    config = tomllib.loads(text)
    pod = objects[("Deployment", "agtpd-booking")]["spec"]["template"]["spec"]
    daemon = next(c for c in pod["initContainers"] if c["name"] == "agtpd")
    check(daemon.get("restartPolicy") == "Always", "agtpd is not a native sidecar (restartPolicy: Always)")
    runtime = next(c for c in pod["containers"] if c["name"] == "booking-runtime")
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in daemon["volumeMounts"]}
    ports = {p["name"]: p["containerPort"] for p in daemon["ports"]}

    # Against the Dockerfile.
    out, arrays = final_stage(os.path.join(ROOT, "packaging/docker/Dockerfile"))
    uid, gid = (int(x) for x in out["USER_SPEC"].split(":"))
    security = pod["securityContext"]
    check((security.get("runAsUser"), security.get("runAsGroup")) == (uid, gid), f"pod user is not the image's {uid}:{gid}")
    config_path = arrays["ENTRYPOINT"][arrays["ENTRYPOINT"].index("--config") + 1]
    check(mounts.get(config_path, {}).get("subPath") == "agtpd.toml", f"{config_path} (the ENTRYPOINT's --config) is not mounted from the ConfigMap")
    for volume in arrays["VOLUMES"]:
        if volume != os.path.dirname(config_path):
            check(volume in mounts, f"the image's volume {volume} is not mounted")
    check([str(p) for p in ports.values()][:1] == arrays["EXPOSE"], f"container ports {ports} against EXPOSE {arrays['EXPOSE']}")
    readiness = daemon["readinessProbe"]["exec"]["command"]
    check(readiness == arrays["HEALTHCHECK"], f"readiness probe {readiness} is not the HEALTHCHECK {arrays['HEALTHCHECK']}")
    for probe in ("livenessProbe", "startupProbe"):
        command = daemon[probe]["exec"]["command"]
        check(command == arrays["HEALTHCHECK"] + ["--live"], f"{probe} {command} is not `agtpd health --live`")

    # Against agtpd.toml.
    check(port_of(config["listen"][0]) == ports["agtp"], "listen port is not the agtp container port")
    check(port_of(config["admin"]["metrics_listen"]) == ports["metrics"], "metrics_listen port is not the metrics container port")
    check(config["admin"]["listen"].startswith("127.0.0.1:"), "the admin listener (no authentication) leaves loopback")
    for key, volume in [("agents_dir", "agents"), ("endpoints_dir", "endpoints")]:
        mount = mounts.get(config[key], {})
        check(mount.get("name") == volume, f"{key} {config[key]} is not the {volume} ConfigMap's mount")
        check(volumes[volume]["configMap"]["name"] == f"agtpd-{volume}", f"volume {volume} is not ConfigMap agtpd-{volume}")
    socket_dir = os.path.dirname(config["gateway_socket"])
    gateway = mounts.get(socket_dir, {}).get("name")
    check(gateway is not None and "emptyDir" in volumes.get(gateway, {}), f"{socket_dir} is not an emptyDir")
    check({m["mountPath"]: m["name"] for m in runtime["volumeMounts"]}.get(socket_dir) == gateway, "the runtime does not share the gateway socket's volume")
    env = {e["name"]: e["value"] for e in runtime["env"]}
    check(env.get("AGTP_GATEWAY_SOCKET") == config["gateway_socket"], "the runtime's AGTP_GATEWAY_SOCKET is not gateway_socket")
    secret = objects[("Secret", "agtpd-tls")]
    tls_dir = os.path.dirname(config["tls"]["cert_file"])
    check(volumes[mounts[tls_dir]["name"]]["secret"]["secretName"] == "agtpd-tls", f"{tls_dir} is not the agtpd-tls Secret")
    for key in ("cert_file", "key_file"):
        check(os.path.basename(config["tls"][key]) in secret["stringData"], f"tls.{key} is not a key of the Secret")
    drain = sum(int(config["timeouts"][k].rstrip("s")) for k in ("drain_delay", "drain"))
    check(pod["terminationGracePeriodSeconds"] > drain, "terminationGracePeriodSeconds does not cover drain_delay + drain")

    # The Service and the PodMonitor name the container's ports and the pod's labels.
    labels = objects[("Deployment", "agtpd-booking")]["spec"]["template"]["metadata"]["labels"]
    service = objects[("Service", "agtpd-booking")]["spec"]
    check(service["selector"].items() <= labels.items(), "the Service does not select the pods")
    check(all(p["targetPort"] in ports for p in service["ports"]), "a Service targetPort is not a container port")
    monitor = objects[("PodMonitor", "agtpd-booking")]["spec"]
    check(monitor["selector"]["matchLabels"].items() <= labels.items(), "the PodMonitor does not select the pods")
    check(all(e["port"] == "metrics" and e["path"] == "/metrics" for e in monitor["podMetricsEndpoints"]), "the PodMonitor does not scrape metrics:/metrics")

    # The configuration itself, by the binary: the ConfigMap's files in a scratch
    # directory, plaintext on loopback instead of the Secret.
    with tempfile.TemporaryDirectory() as scratch:
        for folder in ("agents", "endpoints"):
            os.makedirs(os.path.join(scratch, folder))
            for key, value in config_map(f"agtpd-{folder}").items():
                with open(os.path.join(scratch, folder, key), "w", encoding="utf-8") as f:
                    f.write(value)
        local = text.split("[tls]")[0].replace("/etc/agtpd", scratch).replace("/run/agtpd", scratch)
        local = local.replace('"0.0.0.0:4480"', '"127.0.0.1:4480"')
        path = os.path.join(scratch, "agtpd.toml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(local)
        checked = subprocess.run([agtpd, "--config", path, "--check-config"], capture_output=True, text=True)
        check(checked.returncode == 0, f"agtpd --check-config: {checked.stderr.strip()}")
    for args in (["health", "--live", "--help"], ["health", "--help"]):
        check(subprocess.run([agtpd, *args], capture_output=True).returncode == 0, f"agtpd {' '.join(args)} is not a command")

    for problem in problems:
        print(f"packaging/kubernetes: {problem}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"packaging/kubernetes: {len(objects)} objects agree with the Dockerfile, the sample and agtpd")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/debug/agtpd"))
