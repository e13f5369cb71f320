"""PN2V Studio: the desktop application over :mod:`pn2v_engine`.

It talks to the engine only through the names in ``pn2v_engine.__all__``.
"""

APP_NAME = "PN2V Studio"
ORGANISATION = "PN2V"
