"""Entry point of ``python -m eljobs``."""

from __future__ import annotations

from eljobs.cli import main

raise SystemExit(main())
