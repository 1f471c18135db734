"""One function run in a child process, waited for later: its result, or its error here."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from lesiontrials.execution.local import start_in_child


def _pid_plus(value: int) -> tuple[int, int]:
    return os.getpid(), value + 1


def _fail(message: str) -> None:
    raise ValueError(message)


@pytest.mark.parametrize("method", [None, "spawn"])
def test_the_result_comes_from_another_process(method: str | None):
    context = None if method is None else multiprocessing.get_context(method)
    result = start_in_child(_pid_plus, 41, context=context)
    pid, value = result()
    assert value == 42 and pid != os.getpid()


def test_the_childs_error_is_raised_when_the_result_is_asked_for():
    result = start_in_child(_fail, "no such case")
    with pytest.raises(ValueError, match="no such case"):
        result()
