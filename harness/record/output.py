"""Taking the output folder of a run, exclusively.

Two runs into one folder once produced a mixed bundle that verified (one device's profile,
another's results). A run now takes its folder atomically: it creates it (or finds it empty),
then holds an exclusive lock on the folder for its whole life. A second run is refused before it
writes anything; a run whose set-up fails removes what it created.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from pathlib import Path


class OutputTaken(Exception):
    """The folder is not new or empty, or another run holds it; the message says which."""


class OutputFolder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.created = False
        self._fd: int | None = None

    def take(self) -> OutputFolder:
        try:
            self.path.mkdir(parents=True)
            self.created = True
        except FileExistsError:
            if not self.path.is_dir():
                raise OutputTaken(f"output folder {self.path} exists and is not a folder; give a new folder") from None
        except OSError as e:
            raise OutputTaken(f"cannot create output folder {self.path}: {e.strerror}; give a writable path") from None
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputTaken(f"output folder {self.path} is in use by another run; give each run its own folder") \
                from None
        self._fd = fd
        if any(self.path.iterdir()):  # checked under the lock: nothing can slip in between
            self.release()
            raise OutputTaken(f"output folder {self.path} is not empty; give a new folder for the bundle")
        return self

    def abandon(self) -> None:
        """Set-up failed: remove what this run created, then let go."""
        if self.created:
            shutil.rmtree(self.path, ignore_errors=True)
        self.release()

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None
