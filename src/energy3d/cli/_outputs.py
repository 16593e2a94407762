"""All-or-nothing output folders for the commands that write several files."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_outputs(out: Path, prefix: str):
    """Yield a temporary folder inside ``out``; on success move every file in it into ``out``.

    On an error nothing is moved and the temporary folder is removed, so ``out`` never holds a
    half-written set of results.
    """
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{prefix}-", dir=out))
    try:
        yield tmp
        for f in tmp.iterdir():
            os.replace(f, out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
