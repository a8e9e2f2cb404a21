#!/usr/bin/env python3
"""The forwarding audit as an admin writes it today: msal + requests, serial.

Usage: forwarding_audit.py SIM_INFO_JSON

Signs in with the app's certificate (msal, thumbprint form), then calls
InvokeCommand as the ExchangeOnlineManagement module would: Get-AcceptedDomain,
Get-Mailbox -ResultSize Unlimited following every @odata.nextLink, and
Get-InboxRule -Mailbox for each mailbox, one call after another. A 429 is
retried after its Retry-After (decimal seconds), as the module does.

Prints one JSON line: the external forwarding found (mailbox, source, rule,
target, the same columns as exorun's forwarding-audit), the calls made and
the 429s received. The benchmark `peer` (tests/benches/peer.rs) runs it
beside `exorun run forwarding-audit` and checks both find the same.
"""

import json
import os
import sys
import time
import uuid

import msal
import requests

SCOPE = "https://outlook.office365.com/.default"
ANCHOR = "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@"


def split_pem(path):
    """The simulator's PEM holds the certificate, then the private key."""
    text = open(path, encoding="ascii").read()
    end = text.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")
    return text[end:].strip() + "\n"


class Exchange:
    def __init__(self, info):
        app = msal.ConfidentialClientApplication(
            info["app_id"],
            client_credential={
                "private_key": split_pem(info["client_certificate_pem"]),
                "thumbprint": info["client_certificate_thumbprint"],
            },
            authority=info["authority"],
            instance_discovery=False,
            verify=info["ca_pem"],
        )
        result = app.acquire_token_for_client(scopes=[SCOPE])
        if "access_token" not in result:
            sys.exit(f"sign-in failed: {result}")
        self.url = info["invoke_command_url"]
        self.session = requests.Session()
        self.session.verify = info["ca_pem"]
        self.session.headers.update({
            "Authorization": f"Bearer {result['access_token']}",
            "Accept": "application/json",
            "X-AnchorMailbox": ANCHOR + info["initial_domain"],
            "X-ResponseFormat": "json",
            "X-SerializationLevel": "Partial",
            "Prefer": "odata.maxpagesize=1000",
        })
        self.calls = 0
        self.throttled = 0

    def invoke(self, cmdlet, parameters):
        """Every object of one cmdlet call, following nextLinks."""
        body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters}}
        headers = {"client-request-id": str(uuid.uuid4())}
        url, objects = self.url, []
        while url:
            self.calls += 1
            response = self.session.post(url, json=body, headers=headers)
            if response.status_code == 429:
                self.throttled += 1
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            if response.status_code == 404:
                return objects
            if response.status_code != 200:
                sys.exit(f"{cmdlet}: {response.status_code} {response.text[:300]}")
            page = response.json()
            objects.extend(page["value"])
            url = page.get("@odata.nextLink")
        return objects


def domain_of(address):
    for prefix in ("smtp:", "SMTP:"):
        if address.startswith(prefix):
            address = address[len(prefix):]
    return address.rpartition("@")[2].lower() if "@" in address else None


def smtp_target(entry):
    start = entry.find("[SMTP:")
    if start < 0:
        return None
    end = entry.find("]", start)
    return entry[start + len("[SMTP:"):end] if end > 0 else None


def main():
    # With either set, requests ignores the verify= that trusts the
    # simulator's CA (docs/protocol.md, "What real OAuth clients need").
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        os.environ.pop(variable, None)
    info = json.load(open(sys.argv[1], encoding="utf-8"))
    started = time.monotonic()
    exchange = Exchange(info)
    accepted = {d["DomainName"].lower() for d in exchange.invoke("Get-AcceptedDomain", {})}

    def external(address):
        return domain_of(address) not in accepted

    findings = []
    for mailbox in exchange.invoke("Get-Mailbox", {"ResultSize": "Unlimited"}):
        smtp = mailbox["PrimarySmtpAddress"]
        forwarding = mailbox.get("ForwardingSmtpAddress") or ""
        if forwarding and external(forwarding):
            target = forwarding.removeprefix("smtp:").removeprefix("SMTP:")
            findings.append([smtp, "ForwardingSmtpAddress", "", target])
        for rule in exchange.invoke("Get-InboxRule", {"Mailbox": smtp}):
            for source in ("ForwardTo", "ForwardAsAttachmentTo", "RedirectTo"):
                for entry in rule.get(source) or []:
                    target = smtp_target(entry)
                    if target and external(target):
                        findings.append([smtp, source, rule["Name"], target])
    print(json.dumps({
        "findings": sorted(findings),
        "calls": exchange.calls,
        "throttled": exchange.throttled,
        "seconds": time.monotonic() - started,
    }))


if __name__ == "__main__":
    main()
