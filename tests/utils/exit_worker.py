"""Worker for tests/utils/test_clean_exit.py: ends through exit_without_finalization after leaving work for
every normal-exit mechanism (a non-daemon thread, an atexit handler, buffered stdout)."""
import argparse
import atexit
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from utils.distributed import exit_without_finalization  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--code", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.out)

    def late_writer() -> None:  # a non-daemon thread still working when the script ends
        time.sleep(0.5)
        (out / "thread.txt").write_text("joined")

    threading.Thread(target=late_writer).start()
    atexit.register(lambda: (out / "atexit.txt").write_text("ran"))
    sys.stdout.write("buffered line without newline")  # stdout is a pipe: block-buffered
    exit_without_finalization(args.code)


if __name__ == "__main__":
    main()
