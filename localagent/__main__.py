from localagent.privacy.egress import quiet_library_telemetry

quiet_library_telemetry()  # before the model libraries are imported: they read it once

from localagent.cli import main  # noqa: E402

raise SystemExit(main())
