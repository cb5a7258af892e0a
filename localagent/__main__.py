from localagent.cli import main

raise SystemExit(main())
