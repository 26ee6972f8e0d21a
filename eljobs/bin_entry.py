"""The Python file ``spark-submit`` runs for every ``bin/<job>`` wrapper (job name first).

Run as a script, Python puts the script's own folder first on ``sys.path``. When the driver
runs on the launcher host (local master, or YARN client deploy mode) that folder is the eljobs
package itself, and its modules would shadow the standard library's: ``eljobs/secrets.py``
replaced ``secrets``, so ``numpy.random`` (imported by pandas, which PySpark's Arrow paths
require) failed with "cannot import name randbits", reported by PySpark as "Pandas >= 2.2.0
must be installed". The folder is dropped before anything else is imported. (In cluster deploy
mode the file is copied into the driver's container and its folder is the container's.)
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.isfile(os.path.join(_HERE, "__init__.py")):
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

from eljobs.cli import main  # noqa: E402  (only once the package folder is off sys.path)

raise SystemExit(main())
