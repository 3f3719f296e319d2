"""Start the studio with its embedded defaults: `python launch.py` (what `make run` does).

Settings come from EMOSTUDIO_* environment variables or emostudio.toml; see README.md.
Extra arguments go to `emostudio serve` (e.g. `python launch.py --port 8080`).
"""

import sys

from emostudio.cli import main

if __name__ == "__main__":
    sys.argv = [sys.argv[0], "serve", *sys.argv[1:]]
    main()
