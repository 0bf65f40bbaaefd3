# ruff: noqa: E501 - a table: one Knative test case per line reads (and diffs) best
"""Knative's own Trigger filter test cases, as data (knative/eventing at 8cf4c4b6, 2026-06-17).

Every case of the Go tests named below is here except TestV03Event (CloudEvents 0.3's
datacontentencoding: this runtime speaks 1.0 only) and TestExactTimeMatchIsStable (a
timing property of Go's filter, not a semantic). Each case names the Go test it comes from (pkg/eventfilter/...), the filter as a Trigger
spec writes it, the event, and the FilterResult Knative's test expects. Knative's tests of
all/any/not use stub filters that always pass or fail; here they are the exact filters
``PASS`` and ``FAIL`` on the same event, which answer the same.
"""

from __future__ import annotations

from typing import Any

# pkg/eventfilter/attributes/filter_test.go
A_TYPE, A_SOURCE = "com.example.someevent", "/mycontext"
A_EXT, A_EXT_VALUE, A_SUBJECT = "myextension", "my-extension-value", "mysubject"
A_EVENT = {"specversion": "1.0", "type": A_TYPE, "source": A_SOURCE, "id": "1234"}

# pkg/eventfilter/subscriptionsapi/all_filter_test.go makeEvent (with the broker TTL)
S_TYPE, S_SOURCE = "dev.knative.example", "knativesource"
S_EXT, S_EXT_VALUE = "myextension", "my-extension-value"
S_EVENT = {
    "specversion": "1.0", "type": S_TYPE, "source": S_SOURCE, "id": "1234",
    "knativebrokerttl": 20,
}  # fmt: skip

PASS = {"exact": {"type": S_TYPE}}
FAIL = {"exact": {"type": "some-other-type"}}


def _with(event: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {**event, **more}


def _attrs(t: str, s: str, **more: str) -> dict[str, Any]:
    return {"filter": {"attributes": {"type": t, "source": s, **more}}}


def _filters(*expressions: dict[str, Any]) -> dict[str, Any]:
    return {"filters": list(expressions)}


def _all(*children: dict[str, Any]) -> dict[str, Any]:
    return {"all": list(children)}


def _any(*children: dict[str, Any]) -> dict[str, Any]:
    return {"any": list(children)}


_EXT_A = _with(A_EVENT, **{A_EXT: A_EXT_VALUE})
_SUBJ_A = _with(A_EVENT, subject=A_SUBJECT)
_EXT_S = _with(S_EVENT, **{S_EXT: S_EXT_VALUE})

#: (Go test, case name, Trigger spec, event, expected: "pass" | "fail" | "none")
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any], str]] = [
    ("attributes.TestAttributesFilter_Filter", "Wrong type", _attrs("some-other-type", ""), A_EVENT, "fail"),
    ("attributes.TestAttributesFilter_Filter", "Wrong type with attribs", _attrs("some-other-type", ""), A_EVENT, "fail"),
    ("attributes.TestAttributesFilter_Filter", "Wrong source", _attrs("", "some-other-source"), A_EVENT, "fail"),
    ("attributes.TestAttributesFilter_Filter", "Wrong source with attribs", _attrs("", "some-other-source"), A_EVENT, "fail"),
    ("attributes.TestAttributesFilter_Filter", "Wrong extension", _attrs("", "some-other-source"), A_EVENT, "fail"),
    ("attributes.TestAttributesFilter_Filter", "Any", _attrs("", ""), A_EVENT, "pass"),
    ("attributes.TestAttributesFilter_Filter", "Specific", _attrs(A_TYPE, A_SOURCE), A_EVENT, "pass"),
    ("attributes.TestAttributesFilter_Filter", "Extension with attribs", _attrs(A_TYPE, A_SOURCE, **{A_EXT: A_EXT_VALUE}), _EXT_A, "pass"),
    ("attributes.TestAttributesFilter_Filter", "Any Extension with attribs - without Extension in Event", _attrs(A_TYPE, A_SOURCE, **{A_EXT: ""}), A_EVENT, "fail"),
    ("attributes.TestAttributesFilter_Filter", "Any Extension with attribs - with Extension in Event", _attrs(A_TYPE, A_SOURCE, **{A_EXT: ""}), _EXT_A, "pass"),
    ("attributes.TestAttributesFilter_Filter", "Subject with attribs", _attrs(A_TYPE, A_SOURCE, subject=A_SUBJECT), _SUBJ_A, "pass"),
    ("attributes.TestAttributesFilter_Filter", "Any Subject with attribs - without Subject in Event", _attrs(A_TYPE, A_SOURCE, subject=""), A_EVENT, "fail"),
    ("attributes.TestAttributesFilter_Filter", "Any Subject with attribs - with Subject in Event", _attrs(A_TYPE, A_SOURCE, subject=""), _SUBJ_A, "pass"),
    ("attributes.TestAttributesFilter_Filter", "Any with attribs - Arrival extension", _attrs("", ""), _with(A_EVENT, knativearrivaltime="2019-08-26T23:38:17.834384404Z"), "pass"),
    ("attributes.TestAttributesFilter_Filter", "Wrong Extension with attribs", _attrs(A_TYPE, A_SOURCE, **{A_EXT: "some-other-extension-value"}), _EXT_A, "fail"),
    ("attributes.TestAllSupportedAttributeFieldsV1", "all context attributes",
     {"filter": {"attributes": {
         "specversion": "1.0", "type": A_TYPE, "source": A_SOURCE, "subject": "cool", "id": "1234",
         "time": "2026-01-01T00:00:00Z", "dataschema": "wow", "schemaurl": "wow",
         "datacontenttype": "cheers;mate", "datamediatype": "cheers"}}},
     _with(A_EVENT, dataschema="wow", subject="cool", datacontenttype="cheers;mate", time="2026-01-01T00:00:00Z"), "pass"),
    # subscriptionsapi/exact_filter_test.go
    ("subscriptionsapi.TestExactMatchFilter", "Wrong type", _filters({"exact": {"type": "some-other-type"}}), S_EVENT, "fail"),
    ("subscriptionsapi.TestExactMatchFilter", "Wrong source", _filters({"exact": {"source": "some-other-source"}}), S_EVENT, "fail"),
    ("subscriptionsapi.TestExactMatchFilter", "Wrong extension", _filters({"exact": {S_EXT: "some-other-extension"}}), S_EVENT, "fail"),
    ("subscriptionsapi.TestExactMatchFilter", "Match type", _filters({"exact": {"type": S_TYPE}}), S_EVENT, "pass"),
    ("subscriptionsapi.TestExactMatchFilter", "Match extension", _filters({"exact": {S_EXT: S_EXT_VALUE}}), _EXT_S, "pass"),
    ("subscriptionsapi.TestExactMatchFilter", "Missing attribute", _filters({"exact": {"missingattribute": "missingvalue"}}), S_EVENT, "fail"),
    ("subscriptionsapi.TestMultipleExactMatchFilters", "Wrong type and source", _filters({"exact": {"type": "some-other-type", "source": "some-other-source"}}), S_EVENT, "fail"),
    ("subscriptionsapi.TestMultipleExactMatchFilters", "Match type and wrong source", _filters({"exact": {"type": S_TYPE, "source": "some-other-source"}}), S_EVENT, "fail"),
    ("subscriptionsapi.TestMultipleExactMatchFilters", "Match type and match source", _filters({"exact": {"type": S_TYPE, "source": S_SOURCE}}), S_EVENT, "pass"),
    ("subscriptionsapi.TestMultipleExactMatchFilters", "Match type and miss extension", _filters({"exact": {"type": S_TYPE, S_EXT: S_EXT_VALUE}}), S_EVENT, "fail"),
    ("subscriptionsapi.TestMultipleExactMatchFilters", "Match type and match extension", _filters({"exact": {"type": S_TYPE, S_EXT: S_EXT_VALUE}}), _EXT_S, "pass"),
    # subscriptionsapi/prefix_filter_test.go
    ("subscriptionsapi.TestPrefixFilter", "Missing attribute", _filters({"prefix": {"someotherattribute": "wrong.prefix"}}), S_EVENT, "fail"),
    ("subscriptionsapi.TestPrefixFilter", "Wrong type prefix", _filters({"prefix": {"type": "wrong.prefix"}}), S_EVENT, "fail"),
    ("subscriptionsapi.TestPrefixFilter", "Wrong source prefix", _filters({"prefix": {"source": "wrong.prefix"}}), S_EVENT, "fail"),
    ("subscriptionsapi.TestPrefixFilter", "Wrong extension prefix", _filters({"prefix": {S_EXT: "wrong.prefix"}}), S_EVENT, "fail"),
    ("subscriptionsapi.TestPrefixFilter", "Match type prefix", _filters({"prefix": {"type": "dev.knative"}}), S_EVENT, "pass"),
    ("subscriptionsapi.TestPrefixFilter", "Match extension prefix", _filters({"prefix": {S_EXT: "my-extension"}}), _EXT_S, "pass"),
    ("subscriptionsapi.TestMultiplePrefixFilters", "Wrong type and source", _filters({"prefix": {"type": "wrong.prefix", "source": "wrong.prefix"}}), S_EVENT, "fail"),
    ("subscriptionsapi.TestMultiplePrefixFilters", "Match type and wrong source", _filters({"prefix": {"type": "dev.knative", "source": "wrong.prefix"}}), S_EVENT, "fail"),
    ("subscriptionsapi.TestMultiplePrefixFilters", "Match type and match source", _filters({"prefix": {"type": "dev.knative", "source": "knative"}}), S_EVENT, "pass"),
    ("subscriptionsapi.TestMultiplePrefixFilters", "Match type and missing extension", _filters({"prefix": {"type": "dev.knative", S_EXT: "attri.prefix"}}), S_EVENT, "fail"),
    ("subscriptionsapi.TestMultiplePrefixFilters", "Match type and match extension", _filters({"prefix": {"type": "dev.knative", S_EXT: "my-extension"}}), _EXT_S, "pass"),
    # subscriptionsapi/suffix_filter_test.go
    ("subscriptionsapi.TestSuffixFilter", "Missing attribute", _filters({"suffix": {"someotherattribute": "wrong.suffix"}}), S_EVENT, "fail"),
    ("subscriptionsapi.TestSuffixFilter", "Wrong type suffix", _filters({"suffix": {"type": "wrong.suffix"}}), S_EVENT, "fail"),
    ("subscriptionsapi.TestSuffixFilter", "Wrong source suffix", _filters({"suffix": {"source": "wrong.suffix"}}), S_EVENT, "fail"),
    ("subscriptionsapi.TestSuffixFilter", "Wrong extension suffix", _filters({"suffix": {S_EXT: "wrong.suffix"}}), S_EVENT, "fail"),
    ("subscriptionsapi.TestSuffixFilter", "Match type suffix", _filters({"suffix": {"type": ".knative.example"}}), S_EVENT, "pass"),
    ("subscriptionsapi.TestSuffixFilter", "Match extension suffix", _filters({"suffix": {S_EXT: "extension-value"}}), _EXT_S, "pass"),
    ("subscriptionsapi.TestMultipleSuffixFilters", "Wrong type and source", _filters({"suffix": {"type": "wrong.suffix", "source": "wrong.suffix"}}), S_EVENT, "fail"),
    ("subscriptionsapi.TestMultipleSuffixFilters", "Match type and wrong source", _filters({"suffix": {"type": ".knative.example", "source": "wrong.suffix"}}), S_EVENT, "fail"),
    ("subscriptionsapi.TestMultipleSuffixFilters", "Match type and match source", _filters({"suffix": {"type": ".knative.example", "source": "source"}}), S_EVENT, "pass"),
    ("subscriptionsapi.TestMultipleSuffixFilters", "Match type and missing extension", _filters({"suffix": {"type": ".knative.example", S_EXT: "attri.suffix"}}), S_EVENT, "fail"),
    ("subscriptionsapi.TestMultipleSuffixFilters", "Match type and match extension", _filters({"suffix": {"type": ".knative.example", S_EXT: "extension-value"}}), _EXT_S, "pass"),
    # subscriptionsapi/all_filter_test.go
    ("subscriptionsapi.TestAllFilter_Flat", "Empty", _filters(_all()), S_EVENT, "none"),
    ("subscriptionsapi.TestAllFilter_Flat", "One Pass", _filters(_all(PASS)), S_EVENT, "pass"),
    ("subscriptionsapi.TestAllFilter_Flat", "One Fail", _filters(_all(FAIL)), S_EVENT, "fail"),
    ("subscriptionsapi.TestAllFilter_Flat", "Pass and Fail", _filters(_all(PASS, FAIL)), S_EVENT, "fail"),
    ("subscriptionsapi.TestAllFilter_Flat", "Pass and Pass", _filters(_all(PASS, PASS)), S_EVENT, "pass"),
    ("subscriptionsapi.TestAllFilter_Flat", "Fail and Fail", _filters(_all(FAIL, FAIL)), S_EVENT, "fail"),
    ("subscriptionsapi.TestAllFilter_WithNestedAll", "All(All(Pass))", _filters(_all(_all(PASS))), S_EVENT, "pass"),
    ("subscriptionsapi.TestAllFilter_WithNestedAll", "All(All(Fail))", _filters(_all(_all(FAIL))), S_EVENT, "fail"),
    ("subscriptionsapi.TestAllFilter_WithNestedAll", "All(Pass,All(Fail))", _filters(_all(PASS, _all(FAIL))), S_EVENT, "fail"),
    ("subscriptionsapi.TestAllFilter_WithNestedAll", "All(Pass,All(Pass))", _filters(_all(PASS, _all(PASS))), S_EVENT, "pass"),
    ("subscriptionsapi.TestAllFilter_WithNestedAll", "All(Fail,All(Fail))", _filters(_all(FAIL, _all(FAIL))), S_EVENT, "fail"),
    ("subscriptionsapi.TestAllFilter_WithNestedAll", "All(Fail,All(Pass))", _filters(_all(FAIL, _all(PASS))), S_EVENT, "fail"),
    ("subscriptionsapi.TestAllFilter_WithNestedAll", "All(Pass,All(Pass,Fail))", _filters(_all(PASS, _all(PASS, FAIL))), S_EVENT, "fail"),
    ("subscriptionsapi.TestAllFilter_WithNestedAll", "All(Pass,All(Pass,Pass))", _filters(_all(PASS, _all(PASS, PASS))), S_EVENT, "pass"),
    ("subscriptionsapi.TestAllFilter_WithNestedAll", "All(Pass,All(Fail,Fail))", _filters(_all(PASS, _all(FAIL, FAIL))), S_EVENT, "fail"),
    ("subscriptionsapi.TestAllFilter_WithNestedAll", "All(Fail,All(Pass,Fail))", _filters(_all(FAIL, _all(PASS, FAIL))), S_EVENT, "fail"),
    ("subscriptionsapi.TestAllFilter_WithNestedAll", "All(Fail,All(Pass,Pass))", _filters(_all(FAIL, _all(PASS, PASS))), S_EVENT, "fail"),
    ("subscriptionsapi.TestAllFilter_WithNestedAll", "All(Fail,All(Fail,Fail))", _filters(_all(FAIL, _all(FAIL, FAIL))), S_EVENT, "fail"),
    # subscriptionsapi/any_filter_test.go
    ("subscriptionsapi.TestAnyFilter_Flat", "Empty", _filters(_any()), S_EVENT, "none"),
    ("subscriptionsapi.TestAnyFilter_Flat", "One Pass", _filters(_any(PASS)), S_EVENT, "pass"),
    ("subscriptionsapi.TestAnyFilter_Flat", "One Fail", _filters(_any(FAIL)), S_EVENT, "fail"),
    ("subscriptionsapi.TestAnyFilter_Flat", "Pass and Fail", _filters(_any(PASS, FAIL)), S_EVENT, "pass"),
    ("subscriptionsapi.TestAnyFilter_Flat", "Pass and Pass", _filters(_any(PASS, PASS)), S_EVENT, "pass"),
    ("subscriptionsapi.TestAnyFilter_Flat", "Fail and Fail", _filters(_any(FAIL, FAIL)), S_EVENT, "fail"),
    ("subscriptionsapi.TestAnyFilter_WithNestedAny", "Any(Any(Pass))", _filters(_any(_any(PASS))), S_EVENT, "pass"),
    ("subscriptionsapi.TestAnyFilter_WithNestedAny", "Any(Any(Fail))", _filters(_any(_any(FAIL))), S_EVENT, "fail"),
    ("subscriptionsapi.TestAnyFilter_WithNestedAny", "Any(Pass,Any(Fail))", _filters(_any(PASS, _any(FAIL))), S_EVENT, "pass"),
    ("subscriptionsapi.TestAnyFilter_WithNestedAny", "Any(Pass,Any(Pass))", _filters(_any(PASS, _any(PASS))), S_EVENT, "pass"),
    ("subscriptionsapi.TestAnyFilter_WithNestedAny", "Any(Fail,Any(Fail))", _filters(_any(FAIL, _any(FAIL))), S_EVENT, "fail"),
    ("subscriptionsapi.TestAnyFilter_WithNestedAny", "Any(Fail,Any(Pass))", _filters(_any(FAIL, _any(PASS))), S_EVENT, "pass"),
    ("subscriptionsapi.TestAnyFilter_WithNestedAny", "Any(Pass,Any(Pass,Fail))", _filters(_any(PASS, _any(PASS, FAIL))), S_EVENT, "pass"),
    ("subscriptionsapi.TestAnyFilter_WithNestedAny", "Any(Pass,Any(Pass,Pass))", _filters(_any(PASS, _any(PASS, PASS))), S_EVENT, "pass"),
    ("subscriptionsapi.TestAnyFilter_WithNestedAny", "Any(Pass,Any(Fail,Fail))", _filters(_any(PASS, _any(FAIL, FAIL))), S_EVENT, "pass"),
    ("subscriptionsapi.TestAnyFilter_WithNestedAny", "Any(Fail,Any(Pass,Fail))", _filters(_any(FAIL, _any(PASS, FAIL))), S_EVENT, "pass"),
    ("subscriptionsapi.TestAnyFilter_WithNestedAny", "Any(Fail,Any(Pass,Pass))", _filters(_any(FAIL, _any(PASS, PASS))), S_EVENT, "pass"),
    ("subscriptionsapi.TestAnyFilter_WithNestedAny", "Any(Fail,Any(Fail,Fail))", _filters(_any(FAIL, _any(FAIL, FAIL))), S_EVENT, "fail"),
    # subscriptionsapi/not_filter_test.go
    ("subscriptionsapi.TestNotFilter", "Empty", _filters({"not": {}}), S_EVENT, "none"),
    ("subscriptionsapi.TestNotFilter", "Not Pass", _filters({"not": PASS}), S_EVENT, "fail"),
    ("subscriptionsapi.TestNotFilter", "Not Fail", _filters({"not": FAIL}), S_EVENT, "pass"),
    # subscriptionsapi/no_filter_test.go, and pkg/broker/filter: a Trigger without filters
    ("subscriptionsapi.TestNoFilter", "no filter", {}, S_EVENT, "none"),
    # subscriptionsapi/cesql_filter_test.go
    ("subscriptionsapi.TestCESQLFilter", "Missing expression", _filters({"cesql": ""}), S_EVENT, "none"),
    ("subscriptionsapi.TestCESQLFilter", "Wrong type", _filters({"cesql": "type = 'wrong.type'"}), S_EVENT, "fail"),
    ("subscriptionsapi.TestCESQLFilter", "Wrong extension prefix", _filters({"cesql": f"{S_EXT} = 'wrong.extension'"}), S_EVENT, "fail"),
    ("subscriptionsapi.TestCESQLFilter", "Match type", _filters({"cesql": f"type = '{S_TYPE}'"}), S_EVENT, "pass"),
    ("subscriptionsapi.TestCESQLFilter", "Match extension", _filters({"cesql": f"{S_EXT} = '{S_EXT_VALUE}'"}), _EXT_S, "pass"),
    ("subscriptionsapi.TestCESQLFilter", "Match numeric extension", _filters({"cesql": "knativebrokerttl < 30"}), S_EVENT, "pass"),
    ("subscriptionsapi.TestCESQLFilter", "Match type OR Source", _filters({"cesql": f"(type = '{S_TYPE}') OR (source = 'some-other-source')"}), S_EVENT, "pass"),
    ("subscriptionsapi.TestCESQLFilter", "Missing attribute less than comparison", _filters({"cesql": "missingattribute < 5"}), S_EVENT, "fail"),
    ("subscriptionsapi.TestCESQLFilter", "Missing attribute equals comparison", _filters({"cesql": "missingattribute = missinsvalue"}), S_EVENT, "fail"),
]  # fmt: skip
