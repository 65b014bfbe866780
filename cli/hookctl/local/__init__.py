"""``hookctl dev``/``demo``: the whole pipeline of ``template.yaml`` on this machine, without AWS or Docker.

* ``template``       loads template.yaml (CloudFormation tags, SAM Globals) and resolves parameters and intrinsics;
* ``stack``          creates the template's queues, table, bucket and secrets in the local endpoint from their
                     Properties, and computes each function's environment as the template gives it;
* ``endpoint``       moto's server (the AWS endpoint), with optional fault injection for the functions' calls;
* ``lambda_runtime`` runs a function's real handler in its own process (one per instance, like Lambda);
* ``gateway``        the HTTP API: HTTP request -> payload format 2.0 event -> receiver -> HTTP response;
* ``poller``         the SQS event source mapping of the consumer (batch size, partial batch failures);
* ``console``        one readable line per delivery, from the handlers' answers and their JSON log lines;
* ``inbox``          the web inbox at ``/_inbox`` (page in ``inbox_static/``): the console's facts per delivery, the
                     ledger, the archive, replay and signed samples, loopback-only;
* ``runner``         wires them together (``LocalPipeline``); ``command`` is the ``hookctl dev`` command.

It needs the development dependencies (moto[server], PyYAML), imported only when a local command runs. Nothing
here re-implements the receiver or the consumer: the functions' own handlers run, with the template's environment.
"""

DEFAULT_STACK_NAME = "webhook-gateway-local"
DEFAULT_API_PORT = 3000  # what `sam local start-api` uses
DEFAULT_ENDPOINT_PORT = 5000  # moto_server's default
