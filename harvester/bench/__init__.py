"""`harvester bench`: measure a site's data API against its documented SLA.

`runner.bench` drives the load (`generator`, open loop, at rates from
`rates`, with requests from `probes`), `measure` and `health` hold the
figures, `verdict` judges them against the catalog's SLA rows, and
`report_json`, `report_text` and `report_html` present them; `cli` is the
command line.
"""
