"""Errors of the local stack.

StackError: something the user must fix (a missing tool, a busy port, a failed download); its message
says what to do next.
"""


class StackError(Exception):
    """A local-stack failure with an actionable message."""
