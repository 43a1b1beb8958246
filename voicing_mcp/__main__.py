from voicing_mcp.cli import main

raise SystemExit(main())
