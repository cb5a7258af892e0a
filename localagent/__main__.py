"""The one entry point, for `python -m localagent` and the `localagent` command alike.

The model libraries' offline and no-telemetry switches are set before anything imports
them: they read them once, at import.
"""

from localagent.privacy.egress import quiet_library_telemetry


def main() -> int:
    quiet_library_telemetry()
    from localagent.cli import main as run

    return run()


if __name__ == "__main__":
    raise SystemExit(main())
