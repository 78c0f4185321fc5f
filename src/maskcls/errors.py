"""The root of maskcls's expected errors: the CLI prints their message as one line and exits 1."""


class MaskclsError(Exception):
    """A problem with the user's input (a file, a config, a submission), explained in one line."""
