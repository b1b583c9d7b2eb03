"""``python -m winnow`` runs the CLI."""
from winnow.cli.main import main

raise SystemExit(main())
