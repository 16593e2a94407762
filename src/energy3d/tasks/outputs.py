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

__all__ = ["atomic_outputs", "check_name_lengths", "check_output_dir", "check_output_file", "write_json",
           "os_error_message"]


def os_error_message(path, e: OSError) -> str:
    """One line for an ``OSError`` on ``path`` (no traceback, the reason in words)."""
    reasons = {errno.EACCES: "permission denied", errno.EPERM: "permission denied", errno.ENOSPC: "no space left on the device",
               errno.ENAMETOOLONG: "the name is too long for the file system", errno.EROFS: "the file system is read-only",
               errno.ENOTDIR: "a part of the path is a file, not a folder", errno.EISDIR: "it is a folder",
               errno.EEXIST: "a file of that name exists", errno.ENOENT: "no such file or folder"}
    return f"{path}: cannot write there ({reasons.get(e.errno, e.strerror or type(e).__name__)})"


def _name_max(path: Path) -> int:
    """The longest file name (bytes) the file system holding ``path`` (or its nearest existing folder) allows."""
    for d in (path, *path.parents):
        try:
            if d.is_dir():
                return int(os.pathconf(d, "PC_NAME_MAX"))
        except (OSError, ValueError):  # is_dir() of a name that is too long raises ENAMETOOLONG
            continue
    return 255


def check_name_lengths(path: str | Path) -> Path:
    """Make sure no part of ``path`` is longer than the file system allows, before anything is created.

    ``mkdir -p`` of ``a/b/<300 bytes>`` would create ``a/b`` and then fail; checking every part
    first leaves nothing behind.

    Raises:
        InputError: ``"{path}: cannot write there (the name is too long for the file system: a part
            of N bytes, at most M)"``.
    """
    path = Path(path)
    limit = _name_max(path)
    for part in path.parts:
        n = len(os.fsencode(part))
        if n > limit:
            raise InputError(f"{path}: cannot write there (the name is too long for the file system: "
                             f"a part of {n} bytes, at most {limit})")
    return path


def _probe_dir(d: Path, keep: bool = True) -> None:
    """Create ``d`` (and parents) and write/remove a probe file in it, or raise :class:`InputError`.

    With ``keep=False`` the folders this call created are removed again after the probe (they are
    made for real when the results are written), so a run that fails later leaves nothing behind.
    Folders it created are always removed when the check fails.
    """
    if d.exists() and not d.is_dir():
        raise InputError(f"{d}: is a file, not a folder; give a folder for the outputs")
    made = []  # folders this call creates, outermost first
    for folder in (d, *d.parents):
        try:
            if folder.exists():
                break
        except OSError:
            pass
        made.insert(0, folder)
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".energy3d-probe-", dir=d)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        _remove_empty(made)
        if e.errno == errno.ENOENT and (d.is_dir() or d.parent.is_dir()):  # e.g. under /proc
            raise InputError(f"{d}: cannot write there (the file system does not allow creating files "
                             "or folders there)") from None
        raise InputError(os_error_message(d, e)) from None
    if not keep:
        _remove_empty(made)


def _remove_empty(folders: list[Path]) -> None:
    """Remove the (empty) ``folders``, innermost first; folders that are gone or not empty are left."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            pass


def check_output_dir(out: str | Path, *, keep: bool = True) -> Path:
    """Make sure ``out`` is (or can be made) a writable folder; return it as a :class:`Path`.

    Every part of the name is checked for length before any folder is created
    (:func:`check_name_lengths`); then the folder is created and a probe file written and removed.

    Args:
        out: the folder.
        keep: leave the folder created (default); with False, folders the check had to create are
            removed again (:func:`atomic_outputs` creates them when the results are written), so a
            run that fails before it writes anything leaves nothing behind.

    Raises:
        InputError: ``out`` names an existing file, a parent is a file, a name is too long, or
            the folder cannot be created or written.
    """
    out = check_name_lengths(out)
    _probe_dir(out, keep)
    return out


def check_output_file(path: str | Path, *, suffixes: tuple[str, ...] = ()) -> Path:
    """Make sure a file can be written at ``path``; return it as a :class:`Path`.

    Its folder is created for the check and removed again if it did not exist (:func:`write_json`
    creates it when it writes), so a run that fails before writing leaves nothing behind.

    Raises:
        InputError: ``path`` is a folder, has the wrong suffix, a part of it is a file, its folder
            cannot be created or written, or a name is too long.
    """
    path = check_name_lengths(path)  # first: is_dir() of a name that is too long raises
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a file name")
    if suffixes and path.suffix.lower() not in suffixes:
        raise InputError(f"{path}: expected a {' or '.join(suffixes)} file")
    for folder in path.parents:  # the nearest existing one must be a folder
        if folder.exists():
            if not folder.is_dir():
                raise InputError(f"{path}: cannot write there (a part of the path is a file, not a folder: {folder})")
            break
    _probe_dir(path.parent, keep=False)
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
