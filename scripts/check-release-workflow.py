"""Checks the shape of .github/workflows/release.yml, which only runs on a
forge: it parses, runs on version tags, checks the tag against every
package's version first, builds manylinux2014 wheels for x86_64 and aarch64
plus macOS and Windows and an sdist, and publishes to PyPI and npm with
trusted publishing (id-token, no stored token), every action pinned."""

import sys
from pathlib import Path

import yaml

path = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "release.yml"
problems = []
flow = yaml.safe_load(path.read_text())
# YAML 1.1 reads the key `on` as True.
on = flow.get("on", flow.get(True)) or {}
if on.get("push", {}).get("tags") != ["v*"]:
    problems.append("must run on pushed tags v*")
jobs = flow.get("jobs", {})
for name in ["version", "wheels", "sdist", "pypi", "npm"]:
    if name not in jobs:
        problems.append(f"job `{name}` is missing")
steps_text = str(jobs.get("version", {}))
if "check-versions.sh" not in steps_text or "GITHUB_REF_NAME" not in steps_text:
    problems.append("`version` must run check-versions.sh and compare the tag")
for name in ["wheels", "sdist", "npm"]:
    if "version" not in str(jobs.get(name, {}).get("needs", "")):
        problems.append(f"`{name}` must need `version`")
matrix = jobs.get("wheels", {}).get("strategy", {}).get("matrix", {}).get("include", [])
targets = {(m.get("os"), m.get("target")) for m in matrix}
for want in [("ubuntu-latest", "x86_64"), ("ubuntu-latest", "aarch64")]:
    if want not in targets:
        problems.append(f"wheels: no {want}")
if not any(os.startswith("macos") for os, _ in targets) or not any(os.startswith("windows") for os, _ in targets):
    problems.append("wheels: macOS and Windows are missing")
maturin = [s for s in jobs.get("wheels", {}).get("steps", []) if "maturin-action" in str(s.get("uses", ""))]
if not maturin or str(maturin[0].get("with", {}).get("manylinux")) != "2014":
    problems.append("wheels: manylinux must be 2014 (glibc 2.17)")
for name in ["pypi", "npm"]:
    if ((jobs.get(name) or {}).get("permissions") or {}).get("id-token") != "write":
        problems.append(f"`{name}` must publish with trusted publishing (permissions: id-token: write)")
if "secrets." in path.read_text():
    problems.append("no stored secrets: publishing uses OIDC")
for job_name, job in jobs.items():
    for step in job.get("steps", []):
        uses = step.get("uses")
        if uses and "@" not in uses:
            problems.append(f"{job_name}: `{uses}` is not pinned to a version")
if problems:
    print("release.yml: " + "; ".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"release.yml: {len(jobs)} jobs, {len(matrix)} wheel targets, trusted publishing to PyPI and npm")
