"""The automation's logic, free of host calls so it can be unit-tested."""


def greeting(name: str) -> str:
    """The output of a run."""
    return f"Hello, {name}, from {{name}}.\n"
