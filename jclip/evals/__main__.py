"""``python -m jclip.evals`` = ``jclip-eval``."""

import sys

from jclip.evals.cli import main

sys.exit(main())
