from bbwizard.cli import main

raise SystemExit(main())
