"""The one entry point, for `python -m localagent` and the `localagent` command alike.

The model libraries' offline and no-telemetry switches are set before anything imports
them: they read them once, at import. `models pull`, which downloads what the user names,
keeps the hub client online (its telemetry stays off).
"""

import sys

from localagent.privacy.egress import quiet_library_telemetry


def main() -> int:
    args = sys.argv[1:]
    quiet_library_telemetry(downloads="models" in args and "pull" in args)
    from localagent.cli import main as run

    return run()


if __name__ == "__main__":
    raise SystemExit(main())
