"""``python -m voicing_mcp.guard.ledger list|resolve ID``: ``voicing-mcp ledger`` by its older name."""

from voicing_mcp.cli.ledger import main

raise SystemExit(main())
