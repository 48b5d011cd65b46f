"""The site's own rows: the standard operating procedures of the living manual (``oms_site/manual/models.py``)."""

from .manual.models import Procedure, ProcedureVersion

__all__ = ["Procedure", "ProcedureVersion"]
