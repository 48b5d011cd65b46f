"""The living manual: the operations manual written from the configuration as it is now, plus the standard
operating procedures managers write.

It sits at the top layer (it reads every app; nothing below imports it). ``sections.py`` holds the manual's
sections, each built on request from where its rules are defined (the order state table, the warehouses'
and carriers' rows, the credit rules, the return policy, the notification events and templates, the beat
schedule, the roles table); ``changes.py`` says when each part last changed and who changed it (from
django-simple-history's records, else the console's change log). ``models.py`` holds the procedures and their
versions, ``services.py`` writes them, ``markdown.py`` renders them safely, ``links.py`` shows each one on the
console page it governs, ``views.py`` serves the pages and ``pdf.py`` the printable document.
"""
