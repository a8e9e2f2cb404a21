#!/usr/bin/env python3
"""Real OAuth and HTTP clients against a running exorun simulator.

Usage: real_clients.py SIM_INFO_JSON [refresh | refresh-strict |
       managed-identity USER_ASSIGNED_CLIENT_ID]

Reads the simulator's info line (the JSON `exorun sim` prints), then:
  1. msal ConfidentialClientApplication, thumbprint form (RS256 + x5t),
     authority + instance_discovery=False, verify=ca.pem;
  2. msal, public_certificate form (PS256 + x5t#S256 + x5c), oidc_authority;
  3. azure-identity CertificateCredential (disable_instance_discovery=True,
     authority=https://127.0.0.1:PORT, connection_verify=ca.pem);
  4. requests: InvokeCommand Get-Mailbox -Identity, then Get-Mailbox
     -ResultSize Unlimited following every @odata.nextLink.
Prints one JSON summary line; exits non-zero on the first failure.

`refresh` (against a simulator issuing short-lived tokens): msal and
azure-identity each get a token, then a new one when it nears expiry, and
both work. Both libraries reuse their signed client assertion for minutes,
so this is what a simulator that refused a reused assertion would break.
`refresh-strict` expects exactly that refusal (AADSTS50027) from msal.

`managed-identity` (against a simulator started with managed identity on):
azure-identity's ManagedIdentityCredential and msal's ManagedIdentityClient
get tokens from the App Service endpoint (IDENTITY_ENDPOINT and
IDENTITY_HEADER set) and from IMDS (AZURE_POD_IDENTITY_AUTHORITY_HOST set),
for the system-assigned identity and for the user-assigned one named, and
InvokeCommand takes every token.
"""

import base64
import json
import os
import sys
import uuid

import msal
import requests
from azure.identity import CertificateCredential, ManagedIdentityCredential

SCOPE = "https://outlook.office365.com/.default"


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def split_pem(path):
    """The simulator's PEM holds the certificate, then the private key."""
    text = open(path, encoding="ascii").read()
    cert_end = text.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")
    return text[:cert_end] + "\n", text[cert_end:].strip() + "\n"


def msal_token(app, label):
    result = app.acquire_token_for_client(scopes=[SCOPE])
    if "access_token" not in result:
        fail(f"{label}: {result}")
    return result["access_token"]


def thumbprint_app(info, key_pem):
    """msal with the key and SHA-1 thumbprint (RS256 + x5t), discovery off."""
    return msal.ConfidentialClientApplication(
        info["app_id"],
        client_credential={"private_key": key_pem, "thumbprint": info["client_certificate_thumbprint"]},
        authority=info["authority"],
        instance_discovery=False,
        verify=info["ca_pem"],
    )


def azure_credential(info):
    """azure-identity's CertificateCredential against the simulator."""
    return CertificateCredential(
        tenant_id=info["tenant_id"],
        client_id=info["app_id"],
        certificate_path=info["client_certificate_pem"],
        authority=info["login_base"],
        disable_instance_discovery=True,
        connection_verify=info["ca_pem"],
    )


def main():
    info = json.load(open(sys.argv[1], encoding="utf-8"))
    ca = info["ca_pem"]
    cert_pem, key_pem = split_pem(info["client_certificate_pem"])

    rs256_app = thumbprint_app(info, key_pem)
    token_rs256 = msal_token(rs256_app, "msal thumbprint")
    # A second call is served from msal's cache (no HTTP request).
    if msal_token(rs256_app, "msal thumbprint (cached)") != token_rs256:
        fail("msal did not serve the second token from its cache")

    certificate_app = msal.ConfidentialClientApplication(
        info["app_id"],
        client_credential={"private_key": key_pem, "public_certificate": cert_pem},
        oidc_authority=info["authority"] + "/v2.0",
        verify=ca,
    )
    token_ps256 = msal_token(certificate_app, "msal public_certificate")

    credential = azure_credential(info)
    token_azure = credential.get_token(SCOPE).token

    session = requests.Session()
    session.verify = ca
    headers = {
        "Authorization": f"Bearer {token_azure}",
        "Accept": "application/json",
        "X-AnchorMailbox": "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@" + info["tenant_id"],
        "X-ResponseFormat": "json",
        "X-SerializationLevel": "Partial",
        "client-request-id": str(uuid.uuid4()),
        "Prefer": "odata.maxpagesize=1000",
    }
    for token in (token_rs256, token_ps256):
        one = session.post(
            info["invoke_command_url"],
            headers={**headers, "Authorization": f"Bearer {token}"},
            json={"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"Identity": "jose.nunez"}}},
        )
        if one.status_code != 200 or len(one.json()["value"]) != 1:
            fail(f"Get-Mailbox -Identity: {one.status_code} {one.text[:500]}")

    body = {"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"ResultSize": "Unlimited"}}}
    url = info["invoke_command_url"]
    mailboxes, pages = [], 0
    while url:
        page = session.post(url, headers=headers, json=body)
        if page.status_code != 200:
            fail(f"page {pages + 1}: {page.status_code} {page.text[:500]}")
        data = page.json()
        pages += 1
        mailboxes.extend(data["value"])
        url = data.get("@odata.nextLink")
    guids = {m["ExchangeGuid"] for m in mailboxes}
    if len(guids) != len(mailboxes):
        fail("a mailbox was returned twice")

    print(json.dumps({
        "msal_rs256": bool(token_rs256),
        "msal_ps256": bool(token_ps256),
        "azure_identity": bool(token_azure),
        "mailboxes": len(mailboxes),
        "pages": pages,
    }))


def works(info, ca, token):
    """One Get-Mailbox -Identity with this token answers 200."""
    response = requests.post(
        info["invoke_command_url"],
        verify=ca,
        headers={
            "Authorization": f"Bearer {token}",
            "X-AnchorMailbox": "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@" + info["tenant_id"],
            "X-ResponseFormat": "json",
        },
        json={"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"Identity": "jose.nunez"}}},
    )
    return response.status_code == 200


def refresh(strict):
    info = json.load(open(sys.argv[1], encoding="utf-8"))
    ca = info["ca_pem"]
    _, key_pem = split_pem(info["client_certificate_pem"])
    app = thumbprint_app(info, key_pem)
    first = msal_token(app, "msal first token")
    # Tokens this short-lived are past msal's five-minute refresh margin:
    # the next call asks the token endpoint again, with the same assertion.
    second = app.acquire_token_for_client(scopes=[SCOPE])
    if strict:
        if second.get("error_codes") != [50027]:
            fail(f"strict mode: expected AADSTS50027 for msal's reused assertion, got {second}")
        print(json.dumps({"msal_refused": True}))
        return
    if "access_token" not in second:
        fail(f"msal refresh: {second}")
    if second["access_token"] == first:
        fail("msal served the near-expired token again")

    credential = azure_credential(info)
    azure_first = credential.get_token(SCOPE).token
    azure_second = credential.get_token(SCOPE).token
    if azure_second == azure_first:
        fail("azure-identity served the near-expired token again")
    for label, token in (("msal", second["access_token"]), ("azure-identity", azure_second)):
        if not works(info, ca, token):
            fail(f"the refreshed {label} token was refused by InvokeCommand")
    print(json.dumps({"msal_refreshed": True, "azure_identity_refreshed": True}))


IDENTITY_VARIABLES = (
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "IDENTITY_SERVER_THUMBPRINT",
)


def appid_of(token):
    """The token's `appid` claim, read without checking anything."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims.get("appid")


def managed_identity(user_client_id):
    info = json.load(open(sys.argv[1], encoding="utf-8"))
    ca = info["ca_pem"]
    system_client_id = info["managed_identity_client_id"]
    platforms = {
        "app_service": {
            "IDENTITY_ENDPOINT": info["identity_endpoint"],
            "IDENTITY_HEADER": info["identity_header"],
        },
        "imds": {"AZURE_POD_IDENTITY_AUTHORITY_HOST": info["imds_base"]},
    }
    summary = {}
    for platform, variables in platforms.items():
        for name in IDENTITY_VARIABLES:
            os.environ.pop(name, None)
        os.environ.update(variables)
        for who, client_id in (("system", None), ("user", user_client_id)):
            expected = client_id or system_client_id
            # azure-identity reads the variables when the credential is made.
            if client_id:
                credential = ManagedIdentityCredential(client_id=client_id)
            else:
                credential = ManagedIdentityCredential()
            token = credential.get_token(SCOPE).token
            if appid_of(token) != expected:
                fail(f"azure-identity {platform} {who}: appid {appid_of(token)}, expected {expected}")
            if not works(info, ca, token):
                fail(f"azure-identity {platform} {who}: InvokeCommand refused the token")
            summary[f"azure_identity_{platform}_{who}"] = True

            identity = (
                msal.UserAssignedManagedIdentity(client_id=client_id)
                if client_id
                else msal.SystemAssignedManagedIdentity()
            )
            app = msal.ManagedIdentityClient(identity, http_client=requests.Session())
            result = app.acquire_token_for_client(resource="https://outlook.office365.com")
            if "access_token" not in result:
                fail(f"msal {platform} {who}: {result}")
            if appid_of(result["access_token"]) != expected:
                fail(f"msal {platform} {who}: wrong appid")
            if not works(info, ca, result["access_token"]):
                fail(f"msal {platform} {who}: InvokeCommand refused the token")
            summary[f"msal_{platform}_{who}"] = True
    print(json.dumps(summary))


if __name__ == "__main__":
    mode = sys.argv[2] if len(sys.argv) > 2 else ""
    if mode in ("refresh", "refresh-strict"):
        refresh(mode == "refresh-strict")
    elif mode == "managed-identity":
        managed_identity(sys.argv[3])
    else:
        main()
