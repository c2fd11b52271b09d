from tapwatch.cli import main

raise SystemExit(main())
