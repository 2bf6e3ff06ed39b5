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
