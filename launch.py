"""Start the studio with its embedded defaults: `python launch.py` (what `make run` does).

Settings come from EMOSTUDIO_* environment variables or emostudio.toml; see README.md.
"""

from emostudio.cli import serve

if __name__ == "__main__":
    serve()
