"""Allow ``python -m posenc``."""

from posenc.cli.main import main

raise SystemExit(main())
