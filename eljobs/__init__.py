"""eljobs: PySpark batch jobs for EventLogging data.

Jobs (``python -m eljobs <job>``): ``backfill``, ``extract``, ``refine``, ``refine_monitor``,
``refine_sanitize``, ``refine_sanitize_monitor``, ``salts``. Each job module under
:mod:`eljobs.jobs` exposes a typed ``Config``, ``run(spark, cfg)`` and ``main(argv)``.
"""

from __future__ import annotations

__version__ = "0.1.0"
