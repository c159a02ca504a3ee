"""The build backend of this package (PEP 517 and PEP 660), in the tree so that building
needs nothing beyond the standard library: no setuptools or wheel to fetch, so
`pip install ./sdk/python` works offline. The metadata comes from pyproject.toml."""

import base64
import hashlib
import io
import os
import tarfile
import zipfile

try:
    import tomllib
except ImportError:  # Python < 3.11; pip installs it from `requires` in pyproject.toml
    import tomli as tomllib  # type: ignore[no-redef]

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = "agtp_runtime"


def _project():
    with open(os.path.join(HERE, "pyproject.toml"), "rb") as file:
        return tomllib.load(file)["project"]


def _metadata(project):
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
        f"Summary: {project['description']}",
        f"License: {project['license']['text']}",
        f"Requires-Python: {project['requires-python']}",
    ]
    lines += [f"Classifier: {c}" for c in project.get("classifiers", [])]
    for extra, requirements in project.get("optional-dependencies", {}).items():
        lines.append(f"Provides-Extra: {extra}")
        lines += [f'Requires-Dist: {r}; extra == "{extra}"' for r in requirements]
    lines.append("Description-Content-Type: text/markdown")
    with open(os.path.join(HERE, project["readme"]), encoding="utf-8") as file:
        readme = file.read()
    return "\n".join(lines) + "\n\n" + readme


def _dist_name(project):
    return project["name"].replace("-", "_")


def _package_files():
    root = os.path.join(HERE, "src", PACKAGE)
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if not name.endswith(".pyc"):
                path = os.path.join(directory, name)
                yield path, os.path.relpath(path, os.path.join(HERE, "src")).replace(os.sep, "/")


def _write_wheel(wheel_directory, contents):
    """Writes a wheel of `contents` ({archive name: bytes}) plus its dist-info."""
    project = _project()
    dist = f"{_dist_name(project)}-{project['version']}"
    info = f"{dist}.dist-info"
    contents = dict(contents)
    contents[f"{info}/METADATA"] = _metadata(project).encode("utf-8")
    contents[f"{info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: agtp-runtime backend\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    ).encode()
    scripts = project.get("scripts", {})
    if scripts:
        entries = "".join(f"{name} = {target}\n" for name, target in scripts.items())
        contents[f"{info}/entry_points.txt"] = f"[console_scripts]\n{entries}".encode()
    record = []
    for name, data in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    contents[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    filename = f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in contents.items():
            wheel.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
    return filename


def get_requires_for_build_wheel(config_settings=None):
    return []


get_requires_for_build_sdist = get_requires_for_build_wheel
get_requires_for_build_editable = get_requires_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    contents = {}
    for path, name in _package_files():
        with open(path, "rb") as file:
            contents[name] = file.read()
    return _write_wheel(wheel_directory, contents)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    # A .pth file that puts the sources on sys.path: edits take effect without reinstalling.
    return _write_wheel(wheel_directory, {f"{PACKAGE}.pth": (os.path.join(HERE, "src") + "\n").encode()})


def build_sdist(sdist_directory, config_settings=None):
    project = _project()
    dist = f"{_dist_name(project)}-{project['version']}"
    filename = f"{dist}.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz", format=tarfile.PAX_FORMAT) as sdist:
        for name in ("pyproject.toml", "README.md", "backend.py", "src", "tests"):
            sdist.add(os.path.join(HERE, name), f"{dist}/{name}",
                      filter=lambda info: None if "__pycache__" in info.name else info)
        metadata = _metadata(project).encode("utf-8")
        info = tarfile.TarInfo(f"{dist}/PKG-INFO")
        info.size = len(metadata)
        sdist.addfile(info, io.BytesIO(metadata))
    return filename
