"""engine.interrupts.deferred_sigint: the first SIGINT waits for the next check(), a second one
interrupts at once, and the previous handler comes back afterwards."""
import os
import signal

import pytest

from sanny.engine.interrupts import deferred_sigint


def test_first_sigint_is_deferred_to_the_next_check():
    before = signal.getsignal(signal.SIGINT)
    with deferred_sigint() as check:
        check()  # nothing pending
        os.kill(os.getpid(), signal.SIGINT)  # handled synchronously in the main thread
        with pytest.raises(KeyboardInterrupt):
            check()
    assert signal.getsignal(signal.SIGINT) is before


def test_second_sigint_interrupts_at_once():
    with pytest.raises(KeyboardInterrupt):
        with deferred_sigint():
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
            raise AssertionError("a second SIGINT must interrupt before this line")
