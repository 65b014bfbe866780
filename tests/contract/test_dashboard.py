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
        # Number parameters, and String ones of digits (ConsumerTimeoutSeconds), render as numbers in the JSON.
        if name in parameters and (
            parameters[name]["Type"] == "Number" or str(parameters[name].get("Default", "")).isdigit()
        ):
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
    # A SEARCH's free-text terms (partial matches of any dimension value), e.g. the stack name and ReceiverFunction
    # that pick this stack's looped receivers.
    terms: tuple[str, ...] = ()

    @property
    def dimension_names(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.dimensions)


SEARCH = re.compile(
    r"SEARCH\('\{(?P<schema>[^}]*)\}\s*(?P<terms>[^']*)',\s*'(?P<stat>[^']+)',\s*(?P<period>\d+)\)"
)


def parse_search(expression: str) -> tuple[str, str, dict[str, str | None], str, tuple[str, ...]]:
    match = SEARCH.fullmatch(expression)
    assert match, f"not a SEARCH('{{schema}} terms', 'stat', period) expression: {expression}"
    namespace, *dimensions = [token.strip().strip('"') for token in match["schema"].split(",")]
    terms = dict(re.findall(r'(\w+)="([^"]*)"', match["terms"]))
    free = tuple(re.sub(r'\w+="[^"]*"', " ", match["terms"]).split())
    name = terms.pop("MetricName")
    shown = {d: terms.get(d) for d in dimensions}
    assert set(terms) <= set(dimensions), f"search terms outside the schema: {expression}"
    return namespace, name, shown, match["stat"], free


def searches_in(expression: str) -> list[str]:
    """The SEARCH(...) calls of a metric math expression (a SEARCH alone, or wrapped: SUM(SEARCH(...)))."""
    return [match.group(0) for match in SEARCH.finditer(expression)]


MATH_ID = re.compile(r"\b[a-z][A-Za-z0-9_]*\b")  # metric ids start lower case; math functions are upper case


def shown_metrics(dashboard: dict[str, Any]) -> Iterator[Shown]:
    for widget in dashboard["widgets"]:
        if widget["type"] != "metric":
            continue
        properties = widget["properties"]
        previous: list[Any] = []
        for entry in properties["metrics"]:
            if isinstance(entry[0], dict):
                (options,) = entry
                # Metric math over other lines of the widget adds no metric (test_metric_math_... checks its ids).
                for search in searches_in(options["expression"]):
                    namespace, name, dimensions, stat, free = parse_search(search)
                    yield Shown(properties["title"], namespace, name, tuple(dimensions.items()), stat, True, free)
                continue
            fields = [f for f in entry if not isinstance(f, dict)]
            options = next((f for f in entry if isinstance(f, dict)), {})
            fields = [prev if f == "." else f for f, prev in zip(fields, previous + [None] * len(fields), strict=False)]
            previous = fields
            namespace, name, *pairs = fields
            dimensions = tuple(zip(pairs[::2], pairs[1::2], strict=True))
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
        if "Expression" in query and "SELECT" in as_text(query["Expression"]):
            yield metrics_insights_metric(query["Expression"])
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            yield {
                "Namespace": metric["Namespace"],
                "MetricName": metric["MetricName"],
                "Dimensions": {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])},
            }


INSIGHTS = re.compile(
    r'SELECT (?P<stat>[A-Z]+)\((?P<name>\w+)\) FROM SCHEMA\("(?P<namespace>[^"]+)"(?P<dimensions>(?:, *\w+)*)\)'
    r"(?: WHERE (?P<where>.+))?"
)


def metrics_insights_metric(expression: Any) -> dict[str, Any]:
    """The metric a Metrics Insights query alarm reads: ``{Namespace, MetricName, Dimensions}``, a dimension the
    query does not filter on being None (any value: every provider, every service)."""
    text = expression["Fn::Sub"] if isinstance(expression, dict) else expression
    match = INSIGHTS.fullmatch(" ".join(text.split()))
    assert match, f"not a SELECT <stat>(<metric>) FROM SCHEMA(...) [WHERE ...] query: {text}"
    dimensions: dict[str, str | None] = {d.strip(): None for d in match["dimensions"].split(",") if d.strip()}
    for name, value in re.findall(r"(\w+) = '([^']*)'", match["where"] or ""):
        assert name in dimensions, f"WHERE {name} is not in the schema: {text}"
        dimensions[name] = value
    namespace = ref("MetricsNamespace") if match["namespace"] == "${MetricsNamespace}" else match["namespace"]
    return {"Namespace": namespace, "MetricName": match["name"], "Dimensions": dimensions}


def description(alarm: dict[str, Any]) -> str:
    """An alarm's description text (a looped alarm's is a Sub with the provider's title)."""
    text = alarm["AlarmDescription"]
    if isinstance(text, dict):
        text = text["Fn::Sub"]
        text = text[0] if isinstance(text, list) else text
    return text


LOOPED_ALARM = re.compile(r"[A-Z][A-Za-z0-9]*ReceiverThrottlesAlarm")


def metric_filter_metrics(template: dict[str, Any]) -> set[str]:
    """Names of the metrics the template's own log metric filters publish in the MetricsNamespace parameter (no
    dimension): the code does not emit them, CloudWatch Logs does from the access log."""
    names = set()
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Logs::MetricFilter":
            continue
        for transformation in resource["Properties"]["MetricTransformations"]:
            assert transformation["MetricNamespace"] == ref("MetricsNamespace")
            assert "Dimensions" not in transformation, "a dimension would need a SEARCH and an alarm per value"
            names.add(transformation["MetricName"])
    return names


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
def _string_constants(node: ast.AST) -> set[str]:
    """Every string literal anywhere under ``node``."""
    return {c.value for c in ast.walk(node) if isinstance(c, ast.Constant) and isinstance(c.value, str)}


def _names_bound_to_strings(trees: list[ast.Module]) -> dict[str, set[str]]:
    """Name -> the string literals assigned to it (``NAME = "..."``, conditional expressions included)."""
    bound: dict[str, set[str]] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign):
                strings = _string_constants(node.value)
                for target in node.targets:
                    if isinstance(target, ast.Name) and strings:
                        bound.setdefault(target.id, set()).update(strings)
    return bound


def _strings_of(node: ast.expr, bound: dict[str, set[str]]) -> set[str]:
    """The strings an argument can be: a literal, a name bound to literals, or the literals in an expression."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.Name):
        return bound.get(node.id, set())
    return _string_constants(node)


def _called_name(call: ast.Call) -> str:
    """``add_metric`` for both ``metrics.add_metric(...)`` and ``add_metric(...)``."""
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")


def _metric_names_of_call(call: ast.Call, bound: dict[str, set[str]]) -> set[str]:
    """The metric names one call can emit: ``name=`` (or the first argument) of add_metric/single_metric, or the
    metric constant passed to ``tally.count(provider, NAME)``."""
    function = _called_name(call)
    if function in {"add_metric", "single_metric"}:
        argument = next((k.value for k in call.keywords if k.arg == "name"), call.args[0] if call.args else None)
        if argument is not None and not (isinstance(argument, ast.Name) and argument.id not in bound):
            return _strings_of(argument, bound)
    elif function == "count" and len(call.args) >= 2 and isinstance(call.args[1], ast.Name):
        return bound.get(call.args[1].id, set())
    return set()


def metric_names_in_code() -> set[str]:
    """Metric names the layer's source can emit: ``name=`` of add_metric/single_metric (literals, or names bound to
    literals, conditional expressions included) and the metric constants passed to ``tally.count(provider, NAME)``."""
    trees = [ast.parse(path.read_text(encoding="utf-8")) for path in LAYER.rglob("*.py")]
    bound = _names_bound_to_strings(trees)
    names: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                names |= _metric_names_of_call(node, bound)
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
    dashboard: dict[str, Any], observed: Observed, template: dict[str, Any]
) -> None:
    """Given the dashboard's custom metrics (SEARCH schemas), then each names the MetricsNamespace parameter and a
    metric the code emits with exactly that set of dimension names (a SEARCH schema matches exact sets only). The only
    exception: a metric one of the template's log metric filters publishes (no dimension), shown as it is."""
    shapes = emitted_shapes(observed)
    from_filters = metric_filter_metrics(template)
    custom = [s for s in shown_metrics(dashboard) if not s.namespace.startswith("AWS/")]
    assert custom, "the dashboard shows no custom metric"
    for shown in custom:
        assert shown.namespace == NAMESPACE, f"{shown.widget}: namespace must be ${{MetricsNamespace}}"
        if shown.name in from_filters:
            assert not shown.search and shown.dimensions == (), shown
            continue
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
    assert {name for name, _ in shown} >= IMPORTANT
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
        if shown.namespace == "AWS/Lambda" and dimensions["FunctionName"] is None:
            # The looped receivers, by SEARCH: their generated names are <stack>-<Provider>ReceiverFunction-<id>.
            assert shown.search and set(shown.terms) == {"<<AWS::StackName>>", "ReceiverFunction"}, shown
            seen.setdefault(shown.name, set()).update(set(receivers(template).values()))
        elif shown.namespace == "AWS/Lambda":
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
    assert seen["Duration"] == functions
    assert "ConsumerFunction" in seen["ConcurrentExecutions"]
    assert seen["ApproximateNumberOfMessagesVisible"] == queues
    assert "WebhookQueue" in seen["ApproximateAgeOfOldestMessage"]
    assert "WebhookQueue" in seen["NumberOfMessagesSent"] and "WebhookQueue" in seen["NumberOfMessagesDeleted"]
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
        assert widget["x"] >= 0 and widget["x"] + widget["width"] <= 24, widget
        area = {(x, y) for x in range(widget["x"], widget["x"] + widget["width"])
                for y in range(widget["y"], widget["y"] + widget["height"])}
        assert not cells & area, f"overlapping widget {widget['properties'].get('title')}"
        cells |= area
        if widget["type"] == "metric":
            assert widget["properties"]["title"] and widget["properties"]["region"] == "<<AWS::Region>>"
            ids += [m[0]["id"] for m in widget["properties"]["metrics"] if isinstance(m[0], dict)]
    assert len(ids) == len(set(ids))
    (alarm_widget,) = [w for w in dashboard["widgets"] if w["type"] == "alarm"]
    # A dashboard lists alarms by ARN, and a looped alarm cannot be named in its one Sub string: the per-receiver
    # throttles alarms are in the CloudWatch alarm list, and their metric on the Throttled widget.
    fixed = [name for name in alarms if not LOOPED_ALARM.fullmatch(name)]
    assert sorted(alarm_widget["properties"]["alarms"]) == sorted(f"<<{name}.Arn>>" for name in fixed)
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
    from_filters = metric_filter_metrics(template)
    checked = 0
    for logical_id, alarm in alarms.items():
        for metric in alarm_metrics(alarm):
            if isinstance(metric["Namespace"], str) and metric["Namespace"].startswith("AWS/"):
                continue
            checked += 1
            assert metric["Namespace"] == ref("MetricsNamespace"), logical_id
            if metric["MetricName"] in from_filters:
                assert metric["Dimensions"] == {}, logical_id  # as the metric filter publishes it
                continue
            dimensions = metric["Dimensions"]
            key = (metric["MetricName"], frozenset(dimensions))
            assert key in shapes, f"{logical_id}: {metric['MetricName']} {sorted(dimensions)} is not emitted"
            assert dimensions["provider"] is None or dimensions["provider"] in providers, logical_id
            (component,) = shapes[key]
            if dimensions["provider"] is None:  # a query over every provider: any service of that component
                assert dimensions["service"] is None or dimensions["service"] in services[component], logical_id
            else:
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
    ("alarm", "metric", "reason"),
    [("SignatureFailuresAlarm", "DeliveriesRejected", Reason.SIGNATURE_MISMATCH.value),
     ("HandlerFailuresAlarm", "HandlerFailures", None)],
)
def test_provider_alarms_cover_every_provider_without_listing_them(
    alarms: dict[str, dict[str, Any]], observed: Observed, alarm: str, metric: str, reason: str | None
) -> None:
    """Given an alarm over all providers, then it is one Metrics Insights query over the metric's whole schema, not
    filtered by provider, so a provider added to the Receivers loop is covered with no edit here (and no limit of 10
    metrics per alarm)."""
    properties = alarms[alarm]
    (query,) = properties["Metrics"]
    assert query["ReturnData"] is True and query["Period"] == 300
    read = metrics_insights_metric(query["Expression"])
    assert read["MetricName"] == metric
    assert read["Dimensions"]["provider"] is None
    assert (metric, frozenset(read["Dimensions"])) in emitted_shapes(observed)
    assert read["Dimensions"].get("reason") == reason


def test_each_receiver_has_its_own_throttles_alarm(alarms: dict[str, dict[str, Any]], template: dict[str, Any]) -> None:
    """Given the receivers, then each has a throttles alarm on its own function (the Receivers loop makes it), and
    LambdaThrottlesAlarm watches the consumer."""
    for function in receivers(template).values():
        throttles = alarms[function.replace("ReceiverFunction", "ReceiverThrottlesAlarm")]
        (metric,) = alarm_metrics(throttles)
        assert metric == {
            "Namespace": "AWS/Lambda", "MetricName": "Throttles", "Dimensions": {"FunctionName": ref(function)}
        }
        assert throttles["Threshold"] == ref("ThrottlesAlarmThreshold")
    (consumer,) = alarm_metrics(alarms["LambdaThrottlesAlarm"])
    assert consumer["Dimensions"] == {"FunctionName": ref("ConsumerFunction")}


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
    # Errors: one alarm per function that is not behind an SQS-driven receiver loop (the consumer, the reconciler).
    errors = {
        logical_id: m["Dimensions"]["FunctionName"]
        for logical_id, alarm in alarms.items()
        for m in alarm_metrics(alarm)
        if (m["Namespace"], m["MetricName"]) == ("AWS/Lambda", "Errors")
    }
    assert errors == {
        "ConsumerErrorsAlarm": ref("ConsumerFunction"),
        "ReconcilerErrorsAlarm": ref("ReconcilerFunction"),
    }
    assert by_metric[("custom", "DeliveriesRecovered")][0] == "DeliveriesRecoveredAlarm"
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
    assert subscription["Properties"] == {
        "TopicArn": ref("AlarmTopic"), "Protocol": "email", "Endpoint": ref("AlarmEmail"),
    }
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
        links = RUNBOOK_LINK.findall(description(alarm))
        assert links, f"{logical_id} has no runbook link"
        assert set(links) <= anchors, f"{logical_id}: {links} not among the headings of {OPERATIONS_DOC.name}"
        named = "<Provider>ReceiverThrottlesAlarm" if LOOPED_ALARM.fullmatch(logical_id) else logical_id
        assert named in OPERATIONS_DOC.read_text(encoding="utf-8"), f"{named} is not in the runbook"


def test_the_operations_doc_lists_every_parameter_of_the_alarms(template: dict[str, Any]) -> None:
    """Given the alarm threshold parameters, then docs/operations.md names each one with its default."""
    text = OPERATIONS_DOC.read_text(encoding="utf-8")
    for name, parameter in template["Parameters"].items():
        if re.search(r"Alarm(Threshold|Minimum)", name) or name == "AlarmEmail":
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


# ----------------------------------------------------------------------------------------------- operator polish
def metric_widgets(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [w["properties"] for w in dashboard["widgets"] if w["type"] == "metric"]


def widget_metric_ids(properties: dict[str, Any]) -> dict[str, Any]:
    """id -> the metric line (a list) or expression (a dict) it names, within one widget."""
    ids: dict[str, Any] = {}
    for entry in properties["metrics"]:
        options = entry[0] if isinstance(entry[0], dict) else next((f for f in entry if isinstance(f, dict)), {})
        if "id" in options:
            assert options["id"] not in ids, f"{properties['title']}: id {options['id']} twice"
            ids[options["id"]] = entry
    return ids


def threshold_value(template: dict[str, Any], alarm: dict[str, Any]) -> float:
    """An alarm's threshold as the dashboard renders it: a parameter's default, or the literal."""
    threshold = alarm["Threshold"]
    if isinstance(threshold, dict):
        return float(template["Parameters"][threshold["Ref"]]["Default"])
    return float(threshold)


def test_every_metric_widget_labels_its_axis_with_the_unit(dashboard: dict[str, Any]) -> None:
    """Given each metric widget, then its left axis has a label naming what is counted and in which unit (CloudWatch's
    own unit suffix is off: "Count" says nothing), starts at 0, and a Sum is labelled per its period."""
    widgets = metric_widgets(dashboard)
    assert len(widgets) >= 20
    for properties in widgets:
        left = properties.get("yAxis", {}).get("left", {})
        assert left.get("label", "").strip(), f"{properties['title']}: no axis label"
        assert left.get("showUnits") is False, properties["title"]
        assert left.get("min") == 0, properties["title"]
        assert properties["period"] in {60, 300}, properties["title"]
        if properties["stat"] == "Sum" and properties["period"] == 300:
            assert "5 min" in properties["title"] or "5 min" in left["label"] or "annotations" in properties, (
                properties["title"]
            )


def test_metric_math_refers_to_metrics_of_its_widget(dashboard: dict[str, Any]) -> None:
    """Given every metric math expression that is not a plain SEARCH, then the ids it names exist in its widget, and
    each line it combines is hidden (only the result is plotted) or labelled (plotted beside the result)."""
    checked = 0
    for properties in metric_widgets(dashboard):
        ids = widget_metric_ids(properties)
        for entry in properties["metrics"]:
            if not isinstance(entry[0], dict):
                continue
            expression = entry[0]["expression"]
            named = set(MATH_ID.findall(SEARCH.sub("", expression)))
            assert named <= ids.keys(), f"{properties['title']}: {expression} names {named - ids.keys()}"
            for name in named:
                line = ids[name]
                if not isinstance(line[0], dict) and "label" not in line[-1]:
                    assert line[-1].get("visible") is False, f"{properties['title']}: {name}: hide it or label it"
                checked += 1
    assert checked >= 6


def test_api_5xx_is_shown_as_a_rate(dashboard: dict[str, Any]) -> None:
    """Given the dashboard, then a widget plots 100 x 5xx / Count of the API stage (per minute and over the alarm's 5
    minutes), in percent, with the 5xx alarm's threshold."""
    (properties,) = [p for p in metric_widgets(dashboard) if "5xx rate" in p["title"]]
    assert "%" in properties["yAxis"]["left"]["label"]
    ids = widget_metric_ids(properties)
    rates = [e[0] for e in properties["metrics"] if isinstance(e[0], dict)]
    periods = set()
    for rate in rates:
        match = re.fullmatch(r"100 \* FILL\((\w+), 0\) / (\w+)", rate["expression"])
        assert match, rate
        errors, requests = ids[match[1]], ids[match[2]]
        assert errors[:2] == ["AWS/ApiGateway", "5xx"] and requests[:2] == ["AWS/ApiGateway", "Count"]
        assert errors[2:6] == requests[2:6] == ["ApiId", "<<WebhookHttpApi>>", "Stage", "$default"]
        periods.add(errors[-1].get("period", properties["period"]))
        assert errors[-1].get("period", properties["period"]) == requests[-1].get("period", properties["period"])
    assert periods == {60, 300}


def test_incident_widgets_use_one_minute_periods(dashboard: dict[str, Any]) -> None:
    """Given the widgets an incident is read from (function errors, API 5xx and latency, queue depth and age), then
    they aggregate per minute: a 5-minute sum hides when it started."""
    incident = {("AWS/Lambda", "Errors"), ("AWS/ApiGateway", "5xx"), ("AWS/ApiGateway", "Latency"),
                ("AWS/SQS", "ApproximateAgeOfOldestMessage"), ("AWS/SQS", "ApproximateNumberOfMessagesNotVisible")}
    found = 0
    for properties in metric_widgets(dashboard):
        widget = {"type": "metric", "properties": properties}
        shown = {(s.namespace, s.name) for s in shown_metrics({"widgets": [widget]})}
        if shown & incident:
            found += 1
            assert properties["period"] == 60, properties["title"]
    assert found >= 6


def test_every_alarm_has_its_threshold_drawn_on_a_widget_of_its_metric(
    dashboard: dict[str, Any], alarms: dict[str, dict[str, Any]], template: dict[str, Any]
) -> None:
    """Given each alarm, then a widget that shows the metric it reads draws a horizontal line labelled with the
    alarm's name at its threshold, from the same parameter (rendered here as its default)."""
    for logical_id, alarm in alarms.items():
        wanted = {
            (NAMESPACE if m["Namespace"] == ref("MetricsNamespace") else m["Namespace"], m["MetricName"],
             m["Dimensions"].get("reason"))
            for m in alarm_metrics(alarm)
        } | {
            # a looped alarm's function, shown by the receivers' SEARCH
            ("AWS/Lambda", m["MetricName"], None) for m in alarm_metrics(alarm) if LOOPED_ALARM.fullmatch(logical_id)
        }
        candidates = []
        for properties in metric_widgets(dashboard):
            lines = [a for a in properties.get("annotations", {}).get("horizontal", [])
                     if a["label"].split(" ", 1)[0] == logical_id
                     or (LOOPED_ALARM.fullmatch(logical_id) and "<Provider>ReceiverThrottlesAlarm" in a["label"])]
            if not lines:
                continue
            shown = {(s.namespace, s.name, dict(s.dimensions).get("reason"))
                     for s in shown_metrics({"widgets": [{"type": "metric", "properties": properties}]})}
            assert wanted & shown, f"{logical_id}'s line is on {properties['title']!r}, which does not show its metric"
            candidates += [float(a["value"]) for a in lines]
        assert candidates == [threshold_value(template, alarm)], logical_id
    body = template["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    for logical_id, alarm in alarms.items():
        if isinstance(alarm["Threshold"], dict):
            assert f'"value": ${{{alarm["Threshold"]["Ref"]}}}' in body, logical_id  # the parameter, not a copy


def test_duration_widgets_draw_the_function_timeouts_and_the_concurrency_cap(
    dashboard: dict[str, Any], template: dict[str, Any]
) -> None:
    """Given the duration widgets, then the receivers' p99 is drawn against their timeout (Globals, in ms), the
    consumer's p50 and p99 against ConsumerTimeoutSeconds (in seconds), and its concurrency against the event
    source's MaximumConcurrency."""
    widgets = {p["title"]: p for p in metric_widgets(dashboard)}
    receiver = widgets["Receiver duration (p99, ms)"]
    receiver_timeout_ms = template["Globals"]["Function"]["Timeout"] * 1000
    assert [a["value"] for a in receiver["annotations"]["horizontal"]] == [receiver_timeout_ms]
    consumer = widgets["Consumer duration vs timeout (s)"]
    params = template["Parameters"]
    timeout = int(params["ConsumerTimeoutSeconds"]["Default"])
    assert [a["value"] for a in consumer["annotations"]["horizontal"]] == [timeout]
    consumer_duration = ["AWS/Lambda", "Duration", "FunctionName", "<<ConsumerFunction>>"]
    durations = [e for e in consumer["metrics"] if e[:4] == consumer_duration]
    assert {e[-1]["stat"] for e in durations} == {"p50", "p99"}
    assert sorted(e[0]["expression"] for e in consumer["metrics"] if isinstance(e[0], dict)) == [
        "cdurp50 / 1000", "cdurp99 / 1000"]
    concurrency = widgets["Consumer concurrent executions"]
    assert concurrency["metrics"][0][:4] == [
        "AWS/Lambda", "ConcurrentExecutions", "FunctionName", "<<ConsumerFunction>>",
    ]
    assert concurrency["annotations"]["horizontal"][0]["value"] == params["ConsumerMaxConcurrency"]["Default"]


def log_widgets(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {w["properties"]["title"]: w["properties"] for w in dashboard["widgets"] if w["type"] == "log"}


def test_log_widgets_query_the_functions_log_groups_for_fields_the_code_logs(
    dashboard: dict[str, Any], template: dict[str, Any], observed: Observed
) -> None:
    """Given the Logs Insights widgets, then the rejections one reads every receiver's log group and the failures and
    retries ones the consumer's; each filters on a message the code really logs and groups by fields those lines
    carry."""
    functions = {k for k, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    for logical_id in receivers(template).values():
        # Each looped receiver logs to /aws/lambda/<its function name>, which CloudFormation generates as
        # <stack>-<LogicalId>-<suffix>: the prefix /aws/lambda/<stack>- reads all of them (and the consumer's).
        name = template["Resources"][logical_id.replace("Function", "LogGroup")]["Properties"]["LogGroupName"]
        assert name == {"Fn::Sub": f"/aws/lambda/${{{logical_id}}}"}
        assert "FunctionName" not in template["Resources"][logical_id]["Properties"]
    assert functions
    receiver_prefix = {"prefix:/aws/lambda/<<AWS::StackName>>-"}
    widgets = log_widgets(dashboard)
    assert len(widgets) == 3
    expected = {"receiver logs": (receiver_prefix, RECEIVER), "consumer logs": ({"ConsumerLogGroup"}, CONSUMER)}
    for title, properties in widgets.items():
        (kind,) = [k for k in expected if k in title]
        wanted_groups, component = expected[kind]
        assert properties["region"] == "<<AWS::Region>>" and properties["view"] == "table"
        query = properties["query"]
        sources = set(re.findall(r"SOURCE '<<(\w+)>>'", query)) | {
            f"prefix:{prefix}" for prefix in re.findall(r"SOURCE logGroups\(namePrefix: \['([^']+)'\]", query)
        }
        assert sources == wanted_groups, title
        equals = re.search(r'filter message = "([^"]+)"', query)
        like = re.search(r"filter message like /([^/]+)/", query)
        lines = [line for line in observed.logs[component]
                 if (equals and line["message"] == equals[1]) or (like and re.search(like[1], line["message"]))]
        assert lines, f"{title}: no {component} line matches the filter"
        (by,) = re.findall(r"\bby ([\w, ]+)", query)
        fields = {f.strip() for f in by.split(",")} | set(re.findall(r"\((\w+)\)", query))
        for line in lines:
            assert fields <= line.keys(), f"{title}: {sorted(fields - line.keys())} not on {line['message']!r}"
    rejections = next(p for t, p in widgets.items() if "receiver" in t)["query"]
    assert {"reason", "status_code", "provider"} <= set(re.findall(r"\w+", rejections.split(" by ", 1)[1]))


def test_the_operations_doc_has_the_dashboard_queries() -> None:
    """Given the Logs Insights widgets' queries, then docs/operations.md has each of them (after the SOURCE part),
    line for line, so an operator can run them over another time range or log group."""
    dashboard = render_dashboard(load_template())
    text = OPERATIONS_DOC.read_text(encoding="utf-8")
    for title, properties in log_widgets(dashboard).items():
        first, *rest = properties["query"].split("\n")
        for line in [first.rsplit(" | ", 1)[-1], *rest]:
            assert line in text, f"{title}: {line!r} is not in {OPERATIONS_DOC.name}"


def as_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def test_the_5xx_alarm_is_a_rate_with_a_minimum_request_count(
    alarms: dict[str, dict[str, Any]], template: dict[str, Any]
) -> None:
    """Given Api5xxAlarm, then it alarms on 100 x 5xx / requests of the API stage over the same 5 minutes, in percent
    (Api5xxAlarmThresholdPercent), and not below Api5xxAlarmMinimumRequests requests: with the defaults, 1 error in 2
    requests does not page, 1 in 20 (5 %) does, 5 in 1,000 does not, 100 in 1,000 does."""
    alarm = alarms["Api5xxAlarm"]
    assert "MetricName" not in alarm and alarm["Threshold"] == ref("Api5xxAlarmThresholdPercent")
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    params = template["Parameters"]
    assert params["Api5xxAlarmThresholdPercent"]["MaxValue"] == 100
    (expression,) = [q for q in alarm["Metrics"] if "Expression" in q]
    assert expression["ReturnData"] is True
    text = expression["Expression"]["Fn::Sub"]
    assert text == "IF(requests >= ${Api5xxAlarmMinimumRequests}, 100 * FILL(errors, 0) / requests, 0)"
    stats = {q["Id"]: q["MetricStat"] for q in alarm["Metrics"] if "MetricStat" in q}
    assert {i: s["Metric"]["MetricName"] for i, s in stats.items()} == {"errors": "5xx", "requests": "Count"}
    assert stats["errors"]["Metric"]["Dimensions"] == stats["requests"]["Metric"]["Dimensions"]
    assert {(s["Period"], s["Stat"]) for s in stats.values()} == {(300, "Sum")}
    assert all(q["ReturnData"] is False for q in alarm["Metrics"] if "MetricStat" in q)

    minimum = params["Api5xxAlarmMinimumRequests"]["Default"]
    threshold = params["Api5xxAlarmThresholdPercent"]["Default"]
    rendered = text.replace("${Api5xxAlarmMinimumRequests}", str(minimum))
    python = re.sub(r"IF\((.+?), (100 \* .+), 0\)$", r"((\2) if (\1) else 0)", rendered)

    def fires(errors: int, requests: int) -> bool:
        value = eval(python, {"FILL": lambda x, v: v if x is None else x}, {"errors": errors, "requests": requests})  # noqa: S307
        return value >= threshold

    assert (minimum, threshold) == (20, 5)
    assert [fires(1, 2), fires(1, 20), fires(5, 1000), fires(100, 1000), fires(0, 500)] == [
        False, True, False, True, False,
    ]
