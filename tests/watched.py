"""``framefind watch`` (or ``serve --watch``) as a real subprocess the tests talk to through its stderr, and real
photos to copy into the folders it watches (tests/test_watch.py, benchmarks/bench_watch.py).

The child writes its lines to a file (never a pipe it could block on); ``wait_for`` polls that file until a line
appears, so a test waits for what the watcher says it saw or did instead of sleeping and hoping.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from conftest import skimage_data, wait_until

# Real photos of scikit-image; three overlapping crops of each make distinct contents (and distinct vectors).
PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "horse.png", "motorcycle_left.png",
          "hubble_deep_field.jpg", "retina.jpg", "ihc.png", "color.png", "coins.png", "camera.png", "brick.png",
          "grass.png", "gravel.png", "moon.png", "page.png", "text.png", "clock_motion.png", "microaneurysms.png",
          "cell.png", "motorcycle_right.png"]


def photos(target: Path, n: int, prefix: str = "", skip: int = 0) -> list[Path]:
    """``n`` distinct real JPEG photos in ``target`` (crops of scikit-image's photos), after the first ``skip``."""
    from PIL import Image

    target.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    for name in PHOTOS:
        with Image.open(skimage_data() / name) as opened:
            picture = opened.convert("RGB")
        w, h = picture.size
        for i, box in enumerate([(0, 0, w * 2 // 3, h * 2 // 3), (w // 3, h // 3, w, h), (0, h // 3, w * 2 // 3, h)]):
            skip -= 1
            if skip >= 0:
                continue
            if len(out) == n:
                return out
            path = target / f"{prefix}{Path(name).stem}-{i}.jpg"
            picture.crop(box).save(path, quality=92)
            out.append(path)
    assert len(out) == n, f"only {len(out)} photos to crop"
    return out


class Watching:
    """``framefind ARGS`` (watch, or serve --watch) in a child process; its stderr is read as it grows."""

    def __init__(self, *args: str) -> None:
        self._stderr = tempfile.NamedTemporaryFile(mode="w+", suffix=".log", delete=False)  # noqa: SIM115
        env = {**os.environ, "COLUMNS": "400", "PYTHONUNBUFFERED": "1"}
        # A shell that starts jobs in the background leaves SIGINT ignored in children: restore Ctrl-C.
        self.proc = subprocess.Popen([sys.executable, "-m", "framefind", *args], stdout=subprocess.DEVNULL,
                                     stderr=self._stderr, text=True, env=env,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def stderr(self) -> str:
        return Path(self._stderr.name).read_text()

    def lines(self) -> list[str]:
        return self.stderr().splitlines()

    def wait_for(self, text: str, count: int = 1, limit: float = 120.0) -> None:
        """Return once ``text`` is in ``count`` lines of the child's stderr (fail if it ends first)."""
        def there() -> bool:
            assert self.proc.poll() is None or self.stderr().count(text) >= count, \
                f"the watcher ended ({self.proc.returncode}) before saying {text!r}:\n{self.stderr()}"
            return sum(text in line for line in self.lines()) >= count
        wait_until(there, f"{text!r} x{count} from the watcher; it said:\n{self.stderr()[-3000:]}", limit=limit)

    def stop(self, signum: int = signal.SIGINT, timeout: float = 60) -> tuple[int, str]:
        """(exit status, stderr) after ``signum``."""
        self.proc.send_signal(signum)
        self.proc.wait(timeout=timeout)
        return self.proc.returncode, self.stderr()

    def __enter__(self) -> Watching:
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:  # a failed test leaves no watcher behind
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()
        os.unlink(self._stderr.name)
