"""The Python file ``spark-submit`` runs for every ``bin/<job>`` wrapper (job name first)."""

from __future__ import annotations

from eljobs.cli import main

raise SystemExit(main())
