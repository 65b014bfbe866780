"""Contract between the code's metrics and the template's dashboard and alarms.

What the code emits is observed, not assumed: tests/contract/scenarios.py drives the real receiver and consumer
through every outcome on moto and parses the EMF documents they print. Every custom metric the dashboard or an alarm
shows must be one of those (same name, namespace parameter, dimension names; alarm dimension values that the
deployed functions produce), every emitted metric must be on the dashboard, and every alarm must notify the
encrypted topic and link to its runbook section in docs/operations.md.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.contract.scenarios import CONSUMER, RECEIVER, Observed, observe
from tests.contract.test_template import ROOT, as_list, function_env, get_att, load_template, ref
from webhook_gateway.verifiers.base import Reason

LAYER = ROOT / "layers/gateway/webhook_gateway"
OPERATIONS_DOC = ROOT / "docs/operations.md"
NAMESPACE = "<<MetricsNamespace>>"  # how ${MetricsNamespace} reads once the dashboard body is rendered here

# Emitted but deliberately not on the dashboard, with the reason.
NOT_ON_DASHBOARD = {
    "ColdStart": "Powertools' own metric (function_name dimension); Lambda's Init Duration in the logs is the source",
}
# The metrics an operator needs first; they must be on the dashboard whatever else changes.
IMPORTANT = {
    "DeliveriesRejected",
    "EnqueueFailures",
    "VerifiedWithPreviousSecret",
    "DuplicatesDropped",
    "HandlerFailures",
    "DeliveriesDeadLettered",
    "EndToEndLagMs",
}
# Metric names AWS publishes in each namespace for the resources used here (HTTP API names differ from REST's).
AWS_METRICS = {
    "AWS/ApiGateway": {"Count", "4xx", "5xx", "Latency", "IntegrationLatency", "DataProcessed"},
    "AWS/Lambda": {"Invocations", "Errors", "Duration", "Throttles", "ConcurrentExecutions"},
    "AWS/SQS": {
        "ApproximateNumberOfMessagesVisible",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateAgeOfOldestMessage",
        "NumberOfMessagesSent",
        "NumberOfMessagesDeleted",
    },
}
RUNBOOK_LINK = re.compile(r"docs/operations\.md#([a-z0-9-]+)")


# ----------------------------------------------------------------------------------------------- fixtures and parsing
@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def observed() -> Observed:
    return observe()


@pytest.fixture(scope="module")
def dashboard(template: dict[str, Any]) -> dict[str, Any]:
    return render_dashboard(template)


@pytest.fixture(scope="module")
def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }


def render_dashboard(template: dict[str, Any]) -> dict[str, Any]:
    """The DashboardBody as CloudFormation's Fn::Sub would render it: parameters and references become
    ``<<Name>>`` markers (Number parameters their default, so the JSON stays valid); every variable must exist."""
    body = template["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]
    assert set(body) == {"Fn::Sub"} and isinstance(body["Fn::Sub"], str), "DashboardBody must be one !Sub string"
    parameters, resources = template["Parameters"], template["Resources"]

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        logical_id = name.split(".", 1)[0]
        assert name.startswith("AWS::") or logical_id in parameters or logical_id in resources, name
        if name in parameters and parameters[name]["Type"] == "Number":
            return str(parameters[name]["Default"])
        return f"<<{name}>>"

    text = re.sub(r"\$\{(?!!)([^}]+)\}", substitute, body["Fn::Sub"]).replace("${!", "${")
    return json.loads(text)


@dataclass(frozen=True)
class Shown:
    """One metric (or SEARCH) a dashboard widget shows."""

    widget: str
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str | None], ...]  # None: any value (a SEARCH schema dimension)
    stat: str
    search: bool

    @property
    def dimension_names(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.dimensions)


SEARCH = re.compile(
    r"SEARCH\('\{(?P<schema>[^}]*)\}\s*(?P<terms>[^']*)',\s*'(?P<stat>[^']+)',\s*(?P<period>\d+)\)"
)


def parse_search(expression: str) -> tuple[str, str, dict[str, str], str]:
    match = SEARCH.fullmatch(expression)
    assert match, f"not a SEARCH('{{schema}} terms', 'stat', period) expression: {expression}"
    namespace, *dimensions = [token.strip().strip('"') for token in match["schema"].split(",")]
    terms = dict(re.findall(r'(\w+)="([^"]*)"', match["terms"]))
    name = terms.pop("MetricName")
    shown = {d: terms.get(d) for d in dimensions}
    assert set(terms) <= set(dimensions), f"search terms outside the schema: {expression}"
    return namespace, name, shown, match["stat"]


def shown_metrics(dashboard: dict[str, Any]) -> Iterator[Shown]:
    for widget in dashboard["widgets"]:
        if widget["type"] != "metric":
            continue
        properties = widget["properties"]
        previous: list[Any] = []
        for entry in properties["metrics"]:
            if isinstance(entry[0], dict):
                (options,) = entry
                namespace, name, dimensions, stat = parse_search(options["expression"])
                yield Shown(properties["title"], namespace, name, tuple(dimensions.items()), stat, True)
                continue
            fields = [f for f in entry if not isinstance(f, dict)]
            options = next((f for f in entry if isinstance(f, dict)), {})
            fields = [prev if f == "." else f for f, prev in zip(fields, previous + [None] * len(fields))]
            previous = fields
            namespace, name, *pairs = fields
            dimensions = tuple(zip(pairs[::2], pairs[1::2]))
            stat = options.get("stat", properties.get("stat", "Average"))
            yield Shown(properties["title"], namespace, name, dimensions, stat, False)


def alarm_metrics(alarm: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every metric an alarm reads, as {Namespace, MetricName, Dimensions: {name: value}}."""
    if "MetricName" in alarm:
        yield {
            "Namespace": alarm["Namespace"],
            "MetricName": alarm["MetricName"],
            "Dimensions": {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])},
        }
        return
    for query in alarm["Metrics"]:
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            yield {
                "Namespace": metric["Namespace"],
                "MetricName": metric["MetricName"],
                "Dimensions": {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])},
            }


def receivers(template: dict[str, Any]) -> dict[str, str]:
    """provider -> the receiver function's logical id, from the template (PROVIDER variable)."""
    return {
        function_env(template, logical_id)["PROVIDER"]: logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function" and "PROVIDER" in function_env(template, logical_id)
    }


def service_names(template: dict[str, Any]) -> dict[str, set[str]]:
    """component -> the `service` dimension values its deployed functions emit (POWERTOOLS_SERVICE_NAME)."""
    return {
        RECEIVER: {function_env(template, f)["POWERTOOLS_SERVICE_NAME"] for f in receivers(template).values()},
        CONSUMER: {function_env(template, "ConsumerFunction")["POWERTOOLS_SERVICE_NAME"]},
    }


def emitted_shapes(observed: Observed) -> dict[tuple[str, frozenset[str]], set[str]]:
    """(metric name, dimension names) -> the components that emit it."""
    shapes: dict[tuple[str, frozenset[str]], set[str]] = {}
    for emitted in observed.emitted:
        shapes.setdefault((emitted.name, emitted.dimensions), set()).add(emitted.component)
    return shapes


# ----------------------------------------------------------------------------------------------- code <-> scenarios
def metric_names_in_code() -> set[str]:
    """Metric names the layer's source can emit: ``name=`` of add_metric/single_metric (literals, or names bound to
    literals, conditional expressions included) and the metric constants passed to ``tally.count(provider, NAME)``."""
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in LAYER.rglob("*.py")}
    bound: dict[str, set[str]] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign):
                strings = {c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant) and isinstance(c.value, str)}
                for target in node.targets:
                    if isinstance(target, ast.Name) and strings:
                        bound.setdefault(target.id, set()).update(strings)

    def strings_of(node: ast.expr) -> set[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, ast.Name):
            return bound.get(node.id, set())
        return {c.value for c in ast.walk(node) if isinstance(c, ast.Constant) and isinstance(c.value, str)}

    names: set[str] = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if function in {"add_metric", "single_metric"}:
                argument = next((k.value for k in node.keywords if k.arg == "name"), node.args[0] if node.args else None)
                if argument is not None and not (isinstance(argument, ast.Name) and argument.id not in bound):
                    names |= strings_of(argument)
            elif function == "count" and len(node.args) >= 2 and isinstance(node.args[1], ast.Name):
                names |= bound.get(node.args[1].id, set())
    return {name for name in names if re.fullmatch(r"[A-Z][A-Za-z0-9]+", name)}


def test_every_metric_in_the_code_is_emitted_by_a_scenario(observed: Observed) -> None:
    """Given the metric names in the layer's source, when the scenarios have run, then each one was emitted for
    real (a new metric needs a scenario in tests/contract/scenarios.py, which then makes the dashboard tests see
    it)."""
    in_code = metric_names_in_code()
    assert {"DeliveriesRejected", "VerifiedWithPreviousSecret", "DeliveriesDeadLettered", "EndToEndLagMs"} <= in_code
    assert in_code == observed.names() - set(NOT_ON_DASHBOARD)


def test_the_code_emits_in_the_namespace_the_template_configures(observed: Observed, template: dict[str, Any]) -> None:
    """Given the emitted documents, then they all use POWERTOOLS_METRICS_NAMESPACE, which the template sets to the
    MetricsNamespace parameter, and every metric carries `provider` (or is Powertools' ColdStart)."""
    assert {e.namespace for e in observed.emitted} == {os.environ["POWERTOOLS_METRICS_NAMESPACE"]}
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == ref("MetricsNamespace")
    assert all("provider" in e.dimensions for e in observed.emitted if e.name not in NOT_ON_DASHBOARD)


# ----------------------------------------------------------------------------------------------- dashboard
def test_every_custom_metric_on_the_dashboard_is_emitted_with_those_dimensions(
    dashboard: dict[str, Any], observed: Observed
) -> None:
    """Given the dashboard's custom metrics (SEARCH schemas), then each names the MetricsNamespace parameter and a
    metric the code emits with exactly that set of dimension names (a SEARCH schema matches exact sets only)."""
    shapes = emitted_shapes(observed)
    custom = [s for s in shown_metrics(dashboard) if not s.namespace.startswith("AWS/")]
    assert custom, "the dashboard shows no custom metric"
    for shown in custom:
        assert shown.namespace == NAMESPACE, f"{shown.widget}: namespace must be ${{MetricsNamespace}}"
        assert shown.search, f"{shown.widget}: {shown.name} should be a SEARCH, so new providers appear by themselves"
        assert (shown.name, shown.dimension_names) in shapes, (
            f"{shown.widget}: {shown.name} with dimensions {sorted(shown.dimension_names)} is not emitted; emitted: "
            f"{sorted((n, sorted(d)) for n, d in shapes if n == shown.name)}"
        )


def test_every_emitted_metric_is_on_the_dashboard(dashboard: dict[str, Any], observed: Observed) -> None:
    """Given what the code emits, then every metric (the important ones above all) is on the dashboard, with its
    emitted dimensions, and the end-to-end lag is shown as percentiles."""
    shown = {(s.name, s.dimension_names) for s in shown_metrics(dashboard) if s.namespace == NAMESPACE}
    missing = {
        (name, tuple(sorted(dimensions)))
        for name, dimensions in emitted_shapes(observed)
        if name not in NOT_ON_DASHBOARD and (name, dimensions) not in shown
    }
    assert missing == set()
    assert IMPORTANT <= {name for name, _ in shown}
    rejections = [s for s in shown_metrics(dashboard) if s.name == "DeliveriesRejected"]
    assert rejections and all("reason" in s.dimension_names for s in rejections), "rejections are shown by reason"
    lag_stats = {s.stat for s in shown_metrics(dashboard) if s.name == "EndToEndLagMs"}
    assert lag_stats and all(re.fullmatch(r"p\d+(\.\d+)?", stat) for stat in lag_stats)


def test_aws_metrics_on_the_dashboard_name_resources_of_this_stack(
    dashboard: dict[str, Any], template: dict[str, Any]
) -> None:
    """Given the AWS namespaces' metrics on the dashboard, then each is a metric AWS publishes for an HTTP API,
    Lambda or SQS, about this stack's API, functions and queues; every function's errors and throttles and both
    queues are shown, and route-level API metrics are on (DetailedMetricsEnabled)."""
    resources = template["Resources"]
    functions = {k for k, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    queues = {k for k, r in resources.items() if r["Type"] == "AWS::SQS::Queue"}
    seen: dict[str, set[str]] = {}
    for shown in shown_metrics(dashboard):
        if not shown.namespace.startswith("AWS/"):
            continue
        assert shown.name in AWS_METRICS[shown.namespace], (shown.widget, shown.namespace, shown.name)
        dimensions = dict(shown.dimensions)
        if shown.namespace == "AWS/Lambda":
            function = dimensions["FunctionName"].strip("<>")
            assert function in functions, shown
            seen.setdefault(shown.name, set()).add(function)
        elif shown.namespace == "AWS/SQS":
            queue, attribute = dimensions["QueueName"].strip("<>").split(".")
            assert queue in queues and attribute == "QueueName", shown
            seen.setdefault(shown.name, set()).add(queue)
        else:
            assert dimensions["ApiId"] == "<<WebhookHttpApi>>", shown
            assert dimensions.get("Stage", "$default") in {"$default", None}, shown
            seen.setdefault(f"api:{shown.name}", set()).add(",".join(sorted(dimensions)))
    assert seen["Errors"] == functions
    assert seen["Throttles"] == functions
    assert seen["Duration"] == functions - {"ConsumerFunction"}
    assert seen["ApproximateNumberOfMessagesVisible"] == queues
    assert "WebhookQueue" in seen["ApproximateAgeOfOldestMessage"]
    for metric in ("Count", "4xx", "5xx", "Latency"):
        # The stage total, and route-level metrics under both dimension sets AWS documents for HTTP APIs.
        assert seen[f"api:{metric}"] == {"ApiId,Stage", "ApiId,Method,Resource,Stage", "ApiId,Route,Stage"}, metric
    assert resources["WebhookHttpApi"]["Properties"]["DefaultRouteSettings"]["DetailedMetricsEnabled"] is True


def test_dashboard_widgets_fit_the_grid_and_show_the_alarms(
    dashboard: dict[str, Any], alarms: dict[str, dict[str, Any]]
) -> None:
    """Given the widgets, then they sit on CloudWatch's 24-column grid without overlapping, metric widgets have a
    title and region, SEARCH ids are unique, and the alarm widget lists exactly the stack's alarms."""
    cells: set[tuple[int, int]] = set()
    ids: list[str] = []
    for widget in dashboard["widgets"]:
        assert 0 <= widget["x"] and widget["x"] + widget["width"] <= 24, widget
        area = {(x, y) for x in range(widget["x"], widget["x"] + widget["width"])
                for y in range(widget["y"], widget["y"] + widget["height"])}
        assert not cells & area, f"overlapping widget {widget['properties'].get('title')}"
        cells |= area
        if widget["type"] == "metric":
            assert widget["properties"]["title"] and widget["properties"]["region"] == "<<AWS::Region>>"
            ids += [m[0]["id"] for m in widget["properties"]["metrics"] if isinstance(m[0], dict)]
    assert len(ids) == len(set(ids))
    (alarm_widget,) = [w for w in dashboard["widgets"] if w["type"] == "alarm"]
    assert sorted(alarm_widget["properties"]["alarms"]) == sorted(f"<<{name}.Arn>>" for name in alarms)
    (text,) = [w for w in dashboard["widgets"] if w["type"] == "text"]
    assert "docs/operations.md" in text["properties"]["markdown"]


# ----------------------------------------------------------------------------------------------- alarms
def test_alarms_on_custom_metrics_read_what_the_deployed_functions_emit(
    alarms: dict[str, dict[str, Any]], observed: Observed, template: dict[str, Any]
) -> None:
    """Given the alarms on custom metrics, then each reads a metric the code emits with those dimension names, in
    the MetricsNamespace parameter, with dimension values the deployed functions produce: a provider of the
    template, that component's POWERTOOLS_SERVICE_NAME, an emitted reason code."""
    shapes = emitted_shapes(observed)
    services = service_names(template)
    providers = set(receivers(template))
    reasons = {e.value("reason") for e in observed.emitted if e.name == "DeliveriesRejected"}
    checked = 0
    for logical_id, alarm in alarms.items():
        for metric in alarm_metrics(alarm):
            if isinstance(metric["Namespace"], str) and metric["Namespace"].startswith("AWS/"):
                continue
            checked += 1
            assert metric["Namespace"] == ref("MetricsNamespace"), logical_id
            dimensions = metric["Dimensions"]
            key = (metric["MetricName"], frozenset(dimensions))
            assert key in shapes, f"{logical_id}: {metric['MetricName']} {sorted(dimensions)} is not emitted"
            assert dimensions["provider"] in providers, logical_id
            (component,) = shapes[key]
            expected_service = (
                function_env(template, receivers(template)[dimensions["provider"]])["POWERTOOLS_SERVICE_NAME"]
                if component == RECEIVER
                else next(iter(services[CONSUMER]))
            )
            assert dimensions["service"] == expected_service, logical_id
            if "reason" in dimensions:
                assert dimensions["reason"] in reasons and dimensions["reason"] in set(Reason), logical_id
    assert checked > 0


@pytest.mark.parametrize(
    ("alarm", "metric", "per_provider"),
    [("SignatureFailuresAlarm", "DeliveriesRejected", True), ("HandlerFailuresAlarm", "HandlerFailures", True)],
)
def test_provider_alarms_cover_every_provider_of_the_template(
    alarms: dict[str, dict[str, Any]], template: dict[str, Any], alarm: str, metric: str, per_provider: bool
) -> None:
    """Given an alarm summed over providers, then it reads one metric per receiver in the template (adding a
    provider means adding it here too) and its expression sums exactly those."""
    properties = alarms[alarm]
    read = [m for m in alarm_metrics(properties) if m["MetricName"] == metric]
    assert sorted(m["Dimensions"]["provider"] for m in read) == sorted(receivers(template))
    (expression,) = [q for q in properties["Metrics"] if "Expression" in q]
    assert expression["ReturnData"] is True
    ids = {q["Id"] for q in properties["Metrics"] if "MetricStat" in q}
    assert set(re.findall(r"FILL\((\w+), 0\)", expression["Expression"])) == ids
    assert all(q["ReturnData"] is False for q in properties["Metrics"] if "MetricStat" in q)
    if metric == "DeliveriesRejected":
        assert {m["Dimensions"]["reason"] for m in read} == {Reason.SIGNATURE_MISMATCH.value}


def test_the_alarms_the_issue_asks_for_exist(alarms: dict[str, dict[str, Any]]) -> None:
    """Given the alarms, then there is one each for: DLQ not empty, age of the oldest message, API 5xx, a spike of
    signature failures, consumer errors (and handler failures), on the right resources."""
    by_metric = {
        (m["Namespace"] if isinstance(m["Namespace"], str) else "custom", m["MetricName"]): (logical_id, m)
        for logical_id, alarm in alarms.items()
        for m in alarm_metrics(alarm)
    }
    _, dlq = by_metric[("AWS/SQS", "ApproximateNumberOfMessagesVisible")]
    assert dlq["Dimensions"] == {"QueueName": get_att("WebhookDeadLetterQueue", "QueueName")}
    assert alarms["DeadLetterQueueNotEmptyAlarm"]["Threshold"] == 0
    assert alarms["DeadLetterQueueNotEmptyAlarm"]["ComparisonOperator"] == "GreaterThanThreshold"
    _, age = by_metric[("AWS/SQS", "ApproximateAgeOfOldestMessage")]
    assert age["Dimensions"] == {"QueueName": get_att("WebhookQueue", "QueueName")}
    _, api = by_metric[("AWS/ApiGateway", "5xx")]
    assert api["Dimensions"] == {"ApiId": ref("WebhookHttpApi"), "Stage": "$default"}
    _, errors = by_metric[("AWS/Lambda", "Errors")]
    assert errors["Dimensions"] == {"FunctionName": ref("ConsumerFunction")}
    assert by_metric[("custom", "DeliveriesRejected")][0] == "SignatureFailuresAlarm"
    assert by_metric[("custom", "HandlerFailures")][0] == "HandlerFailuresAlarm"


def test_every_alarm_notifies_the_topic_on_alarm_and_ok_with_a_parameterised_threshold(
    alarms: dict[str, dict[str, Any]], template: dict[str, Any]
) -> None:
    """Given each alarm, then it notifies AlarmTopic when it fires and when it clears, treats missing data as not
    breaching (metrics are published only when something happens), and its threshold is a parameter (the DLQ's is
    0 by definition)."""
    assert alarms
    for logical_id, alarm in alarms.items():
        assert alarm["AlarmActions"] == [ref("AlarmTopic")], logical_id
        assert alarm["OKActions"] == [ref("AlarmTopic")], logical_id
        assert alarm["TreatMissingData"] == "notBreaching", logical_id
        threshold = alarm["Threshold"]
        if logical_id != "DeadLetterQueueNotEmptyAlarm":
            assert set(threshold) == {"Ref"} and threshold["Ref"] in template["Parameters"], logical_id
            assert "Default" in template["Parameters"][threshold["Ref"]]


def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(template: dict[str, Any]) -> None:
    """Given the alarm topic, then it is encrypted with its own rotated KMS key whose policy lets CloudWatch alarms
    of this account (and no wildcard principal) use it: alarms cannot publish to a topic under aws/sns. The topic
    policy lets only this account's alarms publish, over TLS, and the e-mail subscription exists only when
    AlarmEmail is set."""
    resources = template["Resources"]
    assert resources["AlarmTopic"]["Properties"]["KmsMasterKeyId"] == ref("AlarmTopicKey")
    key = resources["AlarmTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    statements = key["KeyPolicy"]["Statement"]
    assert all(s["Principal"] != "*" and s["Principal"].get("AWS") != "*" for s in statements)
    (cloudwatch,) = [s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert sorted(as_list(cloudwatch["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert cloudwatch["Condition"] == {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}}
    policy = resources["AlarmTopicPolicy"]["Properties"]
    assert policy["Topics"] == [ref("AlarmTopic")]
    allow, deny = policy["PolicyDocument"]["Statement"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and allow["Action"] == "sns:Publish"
    assert "aws:SourceArn" in allow["Condition"]["ArnLike"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    subscription = resources["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"] == {"TopicArn": ref("AlarmTopic"), "Protocol": "email", "Endpoint": ref("AlarmEmail")}
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    assert template["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [ref("AlarmEmail"), ""]}]}


def github_anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_every_alarm_links_to_its_runbook_section(alarms: dict[str, dict[str, Any]]) -> None:
    """Given each alarm's description, then it links to a section of docs/operations.md that exists."""
    headings = [line.lstrip("#").strip() for line in OPERATIONS_DOC.read_text(encoding="utf-8").splitlines()
                if line.startswith("#")]
    anchors = {github_anchor(heading) for heading in headings}
    for logical_id, alarm in alarms.items():
        links = RUNBOOK_LINK.findall(alarm["AlarmDescription"])
        assert links, f"{logical_id} has no runbook link"
        assert set(links) <= anchors, f"{logical_id}: {links} not among the headings of {OPERATIONS_DOC.name}"
        assert logical_id in OPERATIONS_DOC.read_text(encoding="utf-8"), f"{logical_id} is not in the runbook"


def test_the_operations_doc_lists_every_parameter_of_the_alarms(template: dict[str, Any]) -> None:
    """Given the alarm threshold parameters, then docs/operations.md names each one with its default."""
    text = OPERATIONS_DOC.read_text(encoding="utf-8")
    for name, parameter in template["Parameters"].items():
        if name.endswith(("AlarmThreshold", "AlarmThresholdSeconds")) or name == "AlarmEmail":
            assert name in text, name
            if name != "AlarmEmail":
                assert str(parameter["Default"]) in text, name


def test_rendering_flags_unknown_variables() -> None:
    """Given a dashboard body naming a resource that does not exist, then rendering it fails (a renamed resource
    cannot leave the dashboard pointing at nothing)."""
    template = {
        "Parameters": {},
        "Resources": {"OperationsDashboard": {"Properties": {"DashboardBody": {"Fn::Sub": '{"a": "${Gone}"}'}}}},
    }
    with pytest.raises(AssertionError, match="Gone"):
        render_dashboard(template)
