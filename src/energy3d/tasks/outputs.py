"""Writing results safely: all-or-nothing output folders, and writability checked before long work.

Every command that writes files checks its destinations first (:func:`check_output_dir`,
:func:`check_output_file`), so a run that would fail to save its result fails at once, before the
work, with one clear message; results are then written to a temporary name and renamed into
place (:func:`atomic_outputs`, :func:`write_json`), so an error never leaves half-written files.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from energy3d.errors import InputError

__all__ = ["atomic_outputs", "check_output_dir", "check_output_file", "write_json", "os_error_message"]


def os_error_message(path, e: OSError) -> str:
    """One line for an ``OSError`` on ``path`` (no traceback, the reason in words)."""
    reasons = {errno.EACCES: "permission denied", errno.EPERM: "permission denied", errno.ENOSPC: "no space left on the device",
               errno.ENAMETOOLONG: "the name is too long for the file system", errno.EROFS: "the file system is read-only",
               errno.ENOTDIR: "a part of the path is a file, not a folder", errno.EISDIR: "it is a folder",
               errno.EEXIST: "a file of that name exists", errno.ENOENT: "no such file or folder"}
    return f"{path}: cannot write there ({reasons.get(e.errno, e.strerror or type(e).__name__)})"


def _probe_dir(d: Path) -> None:
    """Create ``d`` (and parents) and write/remove a probe file in it, or raise :class:`InputError`."""
    if d.exists() and not d.is_dir():
        raise InputError(f"{d}: is a file, not a folder; give a folder for the outputs")
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".energy3d-probe-", dir=d)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise InputError(os_error_message(d, e)) from None


def check_output_dir(out: str | Path) -> Path:
    """Make sure ``out`` is (or can be made) a writable folder; return it as a :class:`Path`.

    Raises:
        InputError: ``out`` names an existing file, a parent is a file, the name is too long, or
            the folder cannot be created or written.
    """
    out = Path(out)
    _probe_dir(out)
    return out


def check_output_file(path: str | Path, *, suffixes: tuple[str, ...] = ()) -> Path:
    """Make sure a file can be written at ``path`` (its folder is created); return it as a :class:`Path`.

    Raises:
        InputError: ``path`` is a folder, has the wrong suffix, its folder cannot be created or
            written, or its name is too long.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a file name")
    if suffixes and path.suffix.lower() not in suffixes:
        raise InputError(f"{path}: expected a {' or '.join(suffixes)} file")
    _probe_dir(path.parent)
    try:
        name_max = os.pathconf(path.parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    if len(path.name.encode()) > name_max:
        raise InputError(f"{path}: cannot write there (the name is too long for the file system)")
    return path


def write_json(path: str | Path, doc, *, default=None) -> Path:
    """Write ``doc`` as JSON to ``path`` atomically (temporary file + rename); non-finite numbers are an error.

    Raises:
        InputError: the file cannot be written, or ``doc`` holds NaN or infinity (JSON has neither).
    """
    path = Path(path)
    try:
        text = json.dumps(doc, indent=2, allow_nan=False, default=default)
    except ValueError:
        raise InputError(f"{path}: the results hold non-finite numbers (NaN or infinity); nothing written") from None
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise InputError(os_error_message(path, e)) from None
    return path


@contextmanager
def atomic_outputs(out: Path, prefix: str):
    """Yield a temporary folder inside ``out``; on success move every file in it into ``out``.

    On an error nothing is moved and the temporary folder is removed, so ``out`` never holds a
    half-written set of results. Files are made readable by group and others (mode 0644 under the
    usual umask), not 0600 as temporary files are.
    """
    out = check_output_dir(out)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{prefix}-", dir=out))
    except OSError as e:
        raise InputError(os_error_message(out, e)) from None
    try:
        yield tmp
        mask = os.umask(0)
        os.umask(mask)
        try:
            for f in tmp.iterdir():
                if f.is_file():
                    os.chmod(f, 0o666 & ~mask)
                os.replace(f, out / f.name)
        except OSError as e:
            raise InputError(os_error_message(out, e)) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
