"""``python tests/modules_on_signal.py OUT run --config …``: the real ``tallywatch`` (as ``python -m
tallywatch``), which writes the names of the modules it has imported to OUT, one a line, when it
gets SIGUSR1 — what an idle daemon carries (tests/test_footprint.py)."""

import runpy
import signal
import sys
from pathlib import Path

out = Path(sys.argv.pop(1))


def said(_signum, _frame) -> None:
    names = "\n".join(sorted(name for name, module in sys.modules.items() if module is not None))
    out.with_suffix(".part").write_text(names + "\n")
    out.with_suffix(".part").rename(out)  # whole or not at all, for the test that waits for it


signal.signal(signal.SIGUSR1, said)
sys.argv[0] = "tallywatch"
runpy.run_module("tallywatch", run_name="__main__", alter_sys=True)
