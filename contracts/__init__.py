"""The contract harness: the official OpenAPI and XSDs checked against any KSeF server.

* :mod:`contracts.harness` — run it (``Harness(Target...).run()``), with a budget;
* :mod:`contracts.checks` — the KSeF rules beyond the response schema;
* :mod:`contracts.stateful` — the links the spec lacks (auth, token, session, query);
* :mod:`contracts.xsd` — UPO and invoice documents against the official XSDs;
* :mod:`contracts.report` — terminal text, JUnit XML and JSON;
* :mod:`contracts.client_hook` — a client's requests checked against the spec;
* :mod:`contracts.faulty` — deliberately broken servers, for the harness's own tests.

The command line is ``mockksef contract`` (see ``contracts/README.md``).
"""
