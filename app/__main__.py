"""``python -m app`` starts PN2V Studio."""

import sys

from app.main import main

sys.exit(main())
