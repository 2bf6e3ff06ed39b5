"""Errors a user can cause. The CLI prints their message and exits non-zero, no stack trace."""


class WorldlabError(Exception):
    """Base class: the message says what was given, what was expected and what to do."""


class UnknownWorldError(WorldlabError):
    """An environment name that no installed suite knows."""


class MissingExtraError(WorldlabError):
    """An optional dependency (a suite, a tool) that is not installed."""


class DatasetError(WorldlabError):
    """A dataset directory that is missing, empty or inconsistent."""


class CorruptEpisodeError(DatasetError):
    """An episode file that cannot be read back."""


def explain_os_error(error: OSError) -> str:
    """A file-system failure in a user's words: which path, what went wrong, what to do.

    Writes are atomic (temp file + rename), so what was complete before the failure is
    kept and a rerun continues from it; the message says so.
    """
    import errno

    path = error.filename or "a file"
    if error.filename2:
        path = f"{error.filename} → {error.filename2}"
    keep = "what was written before stays intact; rerun the command to continue"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk is full while writing {path}: free some space, then rerun ({keep})"
    if isinstance(error, PermissionError) or error.errno == errno.EROFS:
        return (
            f"cannot write {path}: permission denied or a read-only file system; choose "
            f"a directory you can write to ({keep})"
        )
    if isinstance(error, NotADirectoryError):
        return (
            f"{path}: a part of this path is a file where a directory is expected; "
            "choose another path or move that file away"
        )
    if isinstance(error, IsADirectoryError):
        return f"{path} is a directory where a file is expected; give the path of a file"
    if isinstance(error, FileExistsError):
        return f"{path} already exists and is not a directory; choose another path"
    if isinstance(error, FileNotFoundError):
        return f"{path} does not exist; check the path"
    return f"{path}: {error.strerror or error} ({keep})"
