"""Secret files must be private (PostgreSQL's rule for its key): the table of modes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tapwatch.private_files import private_file_problem, read_private_file


@pytest.mark.parametrize(
    ("mode", "owned_by_us", "problem"),
    [
        (0o600, True, None),
        (0o400, True, None),
        (0o640, True, "accessible to its group (mode 0640): a secret file must be private; "
         "run `chmod 600 {p}`"),
        (0o644, True, "accessible to others (mode 0644): a secret file must be private; "
         "run `chmod 600 {p}`"),
        (0o604, True, "accessible to others (mode 0604)"),
        (0o640, False, None),  # root's file handed to the daemon's group (fsGroup)
        (0o440, False, None),
        (0o660, False, "accessible to its group (mode 0660): a secret file must be private; "
         "run `chmod 640 {p}`"),
        (0o644, False, "accessible to others (mode 0644)"),
    ],
)
def test_modes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: int, owned_by_us: bool,
    problem: str | None,
) -> None:
    p = tmp_path / "secret"
    p.write_text("s3cret\n")
    p.chmod(mode)
    if not owned_by_us:  # as if the daemon ran as another user than the file's owner
        uid = os.geteuid()
        monkeypatch.setattr(os, "geteuid", lambda: uid + 1)
        monkeypatch.setattr(os, "access", lambda *_: True)
    got = private_file_problem(p)
    if problem is None:
        assert got is None
        assert read_private_file(p) == b"s3cret\n"
    else:
        assert got is not None and got.startswith(f"{str(p)!r} is ")
        assert problem.format(p=p) in got
        with pytest.raises(ValueError, match="private"):
            read_private_file(p)


def test_missing_and_not_regular(tmp_path: Path) -> None:
    nope = tmp_path / "nope"
    assert private_file_problem(nope) == f"file {str(nope)!r} does not exist"
    assert private_file_problem(tmp_path) == f"{str(tmp_path)!r} is not a regular file"
