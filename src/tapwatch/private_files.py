"""Files that hold secrets must be private, as ssh and PostgreSQL require of key files.

Which files: the pseudonymisation key, a source's `bearer_token_file` and
`basic.password_file`, a platform source's secret files, and the web config's TLS
`key_file`. tapwatch refuses (it does not
merely warn) a secret file that others could read, because a leaked pseudonymisation key
lets anyone test a guessed account id against the pseudonyms, and a warning in a log is
read after the fact:

* nobody but the owner and the group may have any access (no `o=` bits);
* if the daemon's own user owns the file, the group may not either (0600 or 0400);
* a file owned by root or another user may be group-readable (0640, 0440), so that a
  service group or a Kubernetes `fsGroup` can hand it to the daemon.

This is PostgreSQL's rule for its server key. Kubernetes and Docker secrets are mounted
0644 and 0444 by default: give them `defaultMode: 0400` (or 0440 with `fsGroup`).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def private_file_problem(path: Path) -> str | None:
    """Why `path` cannot be used as a secret file, or None if it can.

    The message names the file, what is wrong and, for loose permissions, the fix."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return f"file {str(path)!r} does not exist"
    except OSError as e:
        return f"cannot read {str(path)!r}: {e.strerror or e}"
    if not stat.S_ISREG(st.st_mode):
        return f"{str(path)!r} is not a regular file"
    mode = stat.S_IMODE(st.st_mode)
    own = st.st_uid == os.geteuid()
    loose = mode & (0o077 if own else 0o037)
    if loose:
        who = "others" if mode & 0o007 else "its group"
        fix = "chmod 600" if own else "chmod 640"
        return (
            f"{str(path)!r} is accessible to {who} (mode {mode:04o}): a secret file must be "
            f"private; run `{fix} {path}`"
        )
    if not os.access(path, os.R_OK):
        return f"cannot read {str(path)!r}: permission denied"
    return None


def read_private_file(path: Path) -> bytes:
    """The bytes of a secret file; ValueError naming the file if it is missing or loose."""
    problem = private_file_problem(path)
    if problem is not None:
        raise ValueError(problem)
    return path.read_bytes()
