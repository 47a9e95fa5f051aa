"""The contract harness: the official OpenAPI and XSDs checked against any KSeF server.

* :mod:`ksefcontract.harness` — run it (``Harness(Target...).run()``), with a budget;
* :mod:`ksefcontract.checks` — the KSeF rules beyond the response schema;
* :mod:`ksefcontract.stateful` — the links the spec lacks (auth, token, session, query);
* :mod:`ksefcontract.xsd` — UPO and invoice documents against the official XSDs;
* :mod:`ksefcontract.report` — terminal text, JUnit XML and JSON;
* :mod:`ksefcontract.client_hook` — a client's requests checked against the spec.

Its run-time dependencies (schemathesis, hypothesis) come with
``pip install 'mockksef[contract]'``. The harness's own tests, and the deliberately
broken servers they catch, live in ``tests/contracts/`` of the repository.

The command line is ``mockksef contract`` (see ``contracts/README.md``).
"""
