"""Write files so that a partial file is never mistaken for a complete one."""

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path, replace=True):
    """Yield a temporary path beside ``path``: renamed to ``path`` on
    success, deleted on any error; with ``replace=False`` a file that
    appeared at ``path`` meanwhile stays (``FileExistsError``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp creates the file private (0600); give it the usual mode
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        if replace:
            os.replace(tmp, path)
        else:
            _publish_new(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _publish_new(tmp, path):
    """Give ``tmp`` the name ``path`` only if no file has it: a hard link
    fails atomically if one exists (renaming would replace it)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links
        if os.path.lexists(path):
            raise FileExistsError(path) from None
        os.replace(tmp, path)
