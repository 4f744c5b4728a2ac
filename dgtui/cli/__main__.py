"""``python -m dgtui.cli``: the ``dgtui`` command."""

from . import main

raise SystemExit(main())
