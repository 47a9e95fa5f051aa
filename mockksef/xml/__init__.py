"""Invoice XML: safe parsing, XSD validation of FA(2)/FA(3)/FA_RR/PEF, data extraction, UPO.

The official schemas are read at run time from the official directory (never
copied); their ``http://crd.gov.pl/...`` imports are resolved to the local
``bazowe`` copies and nothing is ever fetched over the network.
"""
