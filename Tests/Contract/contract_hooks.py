"""Schemathesis hooks for the admin API contract run (AdminContractTests; docs/ADMIN-API.md).

One check of our own beside schemathesis' `all`: no successful response given to a token scoped to
one tenant mentions another tenant (SB_OTHER_TENANTS, comma-separated, set per token by the test).
"""
import os

import schemathesis

OTHER_TENANTS = [t for t in os.environ.get("SB_OTHER_TENANTS", "").split(",") if t]


@schemathesis.check
def no_response_crosses_tenants(ctx, response, case):
    if not OTHER_TENANTS or response.status_code >= 300:
        return None
    body = response.text or ""
    for tenant in OTHER_TENANTS:
        if f'"{tenant}"' in body or f"/{tenant}/" in body:
            raise AssertionError(f"a response to a token scoped to another tenant mentions tenant {tenant!r}")
    return None
