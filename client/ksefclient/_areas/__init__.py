"""The API areas, one module each: flows over one ``ProtocolCore``, no I/O, no state.

==============  ===========================================================
``auth``        authentication sessions of the context (list, revoke)
``sessions``    what online and batch sessions share: status, invoices, UPO
``online``      online sessions: open, send (never twice), close
``batch``       batch sessions: ZIP, encrypted parts, upload
``invoices``    download by KSeF number, metadata queries
``exports``     exports: start, poll, download, decrypt, unpack
``imports``     the import modes: a period, everything new (HWM)
``tokens``      KSeF tokens
``permissions`` permission grants, queries, revocations
``limits``      context, subject and rate limits
==============  ===========================================================

Each flow is a function whose first argument is the core; ``_base.py`` turns
the public ones into methods of both clients. Authentication and the
Ministry's public keys are the core's own (``_core.py``): every area needs them.
"""

__all__: list[str] = []
