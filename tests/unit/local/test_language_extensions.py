"""Fn::ForEach expanded as CloudFormation's AWS::LanguageExtensions does, so every check sees each looped resource."""

from __future__ import annotations

import pytest

from hookctl.local.language_extensions import TemplateExpansionError, expand

TRANSFORMS = ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"]


def looped(collection, fragment, **sections):
    return {"Transform": TRANSFORMS, "Resources": {"Fn::ForEach::Things": ["Name", collection, fragment]}, **sections}


def test_each_item_gets_its_own_copy_with_the_identifier_replaced_everywhere():
    # Given a loop whose fragment names the item in keys, strings, a Sub, a Ref and with &{}
    fragment = {
        "${Name}Queue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": {"Fn::Sub": "${AWS::StackName}-${Name}"}, "Tag": {"Ref": "Name"}},
        },
        "&{Name}Topic": {"Type": "AWS::SNS::Topic"},
    }
    # When it is expanded
    resources = expand(looped(["Github", "Stripe"], fragment))["Resources"]
    # Then one copy per item, nothing left of the loop
    assert sorted(resources) == ["GithubQueue", "GithubTopic", "StripeQueue", "StripeTopic"]
    assert resources["StripeQueue"]["Properties"] == {
        "QueueName": {"Fn::Sub": "${AWS::StackName}-Stripe"},
        "Tag": "Stripe",
    }


def test_the_result_is_a_plain_sam_template():
    document = expand(looped(["A"], {"${Name}X": {"Type": "AWS::SNS::Topic"}}))
    assert document["Transform"] == "AWS::Serverless-2016-10-31"
    assert "Fn::ForEach::Things" not in document["Resources"]


def test_a_template_without_the_transform_is_returned_unchanged():
    document = {"Resources": {"Fn::ForEach::Things": ["Name", ["A"], {"${Name}X": {}}]}}
    assert expand(document) == document


def test_literal_find_in_map_is_resolved_and_the_mapping_only_the_loop_read_goes():
    # Given rows looked up by the loop's item, and a lookup by a parameter that must stay for deploy time
    document = looped(
        ["Github"],
        {
            "${Name}Function": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Path": {"Fn::FindInMap": ["Providers", {"Ref": "Name"}, "Path"]},
                    "Memory": {"Fn::FindInMap": ["Sizes", {"Ref": "Size"}, "Memory"]},
                },
            }
        },
        Mappings={"Providers": {"Github": {"Path": "/webhooks/github"}}, "Sizes": {"S": {"Memory": 128}}},
        Parameters={"Size": {"Type": "String", "Default": "S"}},
    )
    expanded = expand(document)
    properties = expanded["Resources"]["GithubFunction"]["Properties"]
    assert properties["Path"] == "/webhooks/github"
    assert properties["Memory"] == {"Fn::FindInMap": ["Sizes", {"Ref": "Size"}, "Memory"]}
    assert list(expanded["Mappings"]) == ["Sizes"]


def test_a_missing_mapping_row_is_an_error_not_a_silent_gap():
    document = looped(["Gitlab"], {"${Name}X": {"P": {"Fn::FindInMap": ["Providers", {"Ref": "Name"}, "Id"]}}},
                      Mappings={"Providers": {"Github": {"Id": "github"}}})
    with pytest.raises(TemplateExpansionError, match="no such mapping entry"):
        expand(document)


def test_sub_variables_that_become_literal_are_folded_back():
    fragment = {
        "${Name}Log": {
            "Properties": {
                "LogGroupName": {"Fn::Sub": ["/aws/lambda/${F}", {"F": {"Fn::Sub": "${${Name}Function}"}}]},
                "Service": {"Fn::Sub": ["${Id}-receiver", {"Id": {"Fn::FindInMap": ["P", {"Ref": "Name"}, "Id"]}}]},
                "Literal": {"Fn::Sub": ["${V}", {"V": "keeps ${braces}"}]},
                "Function": {"Fn::Sub": "${${Name}Function}"},
            }
        }
    }
    properties = expand(looped(["Github"], fragment, Mappings={"P": {"Github": {"Id": "github"}}}))["Resources"][
        "GithubLog"
    ]["Properties"]
    assert properties == {
        "LogGroupName": {"Fn::Sub": "/aws/lambda/${GithubFunction}"},
        "Service": "github-receiver",
        "Literal": "keeps ${braces}",
        "Function": {"Ref": "GithubFunction"},
    }


def test_a_collection_can_be_a_parameter_and_loops_can_nest():
    document = {
        "Transform": TRANSFORMS,
        "Parameters": {"Names": {"Type": "CommaDelimitedList", "Default": "A,B"}},
        "Conditions": {},
        "Resources": {
            "Fn::ForEach::Outer": [
                "Name",
                {"Ref": "Names"},
                {"Fn::ForEach::Inner": ["Kind", ["Queue", "Topic"], {"${Name}${Kind}": {"Type": "${Kind}"}}]},
            ]
        },
    }
    assert sorted(expand(document)["Resources"]) == ["AQueue", "ATopic", "BQueue", "BTopic"]
    assert sorted(expand(document, {"Names": "C"})["Resources"]) == ["CQueue", "CTopic"]


def test_two_items_making_the_same_logical_id_are_refused():
    document = looped(["A", "A"], {"${Name}X": {"Type": "AWS::SNS::Topic"}})
    with pytest.raises(TemplateExpansionError, match="'AX' is defined twice"):
        expand(document)


@pytest.mark.parametrize("loop", [["Name", ["A"]], ["Name", "A", {}], ["Name", [{"Ref": "X"}], {}]])
def test_a_loop_the_expander_cannot_follow_is_an_error(loop):
    with pytest.raises(TemplateExpansionError):
        expand({"Transform": TRANSFORMS, "Resources": {"Fn::ForEach::Bad": loop}})
