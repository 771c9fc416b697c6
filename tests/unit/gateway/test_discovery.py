"""DescribeEndpoints' Address, shaped to what each SDK's endpoint discovery does with it."""

from __future__ import annotations

import pytest

from services.gateway.catalog_ops import discovery_address

BOTO3 = "Boto3/1.44.18 md/Botocore#1.44.18 ua/2.1 os/linux#6.18 md/arch#x86_64 lang/python#3.11.7 cfg/retry-mode#legacy"
CLI = "aws-cli/1.46.3 md/Botocore#1.43.62 ua/2.1 os/linux#6.18 lang/python#3.11.7"
JS_V3 = "aws-sdk-js/3.1138.0 ua/2.1 os/linux#6.18 lang/js md/nodejs#20.20.2 api/timestream-write#3.1138.0 m/E"
JS_V2 = "aws-sdk-nodejs/2.1692.0 linux/v20.20.2 exec-env/AWS_Lambda_nodejs20.x"


@pytest.mark.parametrize("user_agent", [BOTO3, CLI, JS_V2, ""])
def test_sdks_that_take_a_url_get_the_gateways_url_with_scheme_and_port(user_agent: str) -> None:
    assert discovery_address("http://127.0.0.1:38347", user_agent) == "http://127.0.0.1:38347"


@pytest.mark.parametrize("endpoint, host", [
    ("http://127.0.0.1:38347", "127.0.0.1"),
    ("https://timestream.example.com", "timestream.example.com"),
    ("http://[::1]:8080", "::1"),
])
def test_the_javascript_sdk_v3_gets_the_bare_host_because_it_swaps_only_the_host_name(endpoint: str,
                                                                                      host: str) -> None:
    assert discovery_address(endpoint, JS_V3) == host
