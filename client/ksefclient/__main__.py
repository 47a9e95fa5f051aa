from ksefclient._cli import main

raise SystemExit(main())
