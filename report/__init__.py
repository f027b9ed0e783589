"""The report: figures drawn from stored tables, typeset math, Jinja templates, WeasyPrint PDF and ZIP."""
