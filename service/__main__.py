"""`python -m service` is the `tasks-api` command."""

from service.cli import main

raise SystemExit(main())
