// Microsoft's Node.js OAuth clients against a running exorun simulator.
//
// Usage: node real_clients.mjs SIM_INFO_JSON
// (with NODE_EXTRA_CA_CERTS naming the simulator's ca.pem, as a user
// pointing Node at a private CA would.)
//
// Reads the simulator's info line (the JSON `exorun sim` prints), then:
//   1. @azure/msal-node ConfidentialClientApplication with the certificate
//      (thumbprintSha256 + x5c): a token, the same token from its cache, and
//      once the token is within msal's refresh margin (the test starts the
//      simulator with 60-second tokens) a new one, asked for with the
//      signed assertion msal keeps reusing;
//   2. @azure/identity ClientCertificateCredential: a token and a refresh;
//   3. fetch: InvokeCommand Get-Mailbox -ResultSize Unlimited with each
//      token, following every @odata.nextLink;
//   4. msal-node with a key the app does not have: 401 invalid_client,
//      AADSTS700027.
// Prints one JSON summary line; exits non-zero on the first failure.

import { readFileSync } from "node:fs";
import { ConfidentialClientApplication } from "@azure/msal-node";
import { ClientCertificateCredential } from "@azure/identity";

const SCOPE = "https://outlook.office365.com/.default";
const ANCHOR = "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@";

function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}

const info = JSON.parse(readFileSync(process.argv[2], "utf8"));
const pem = readFileSync(info.client_certificate_pem, "utf8");
const certEnd = pem.indexOf("-----END CERTIFICATE-----") + "-----END CERTIFICATE-----".length;
const certificatePem = pem.slice(0, certEnd) + "\n";
const privateKey = pem.slice(certEnd).trim() + "\n";
const host = new URL(info.login_base).host;

function msalApp(thumbprintSha256) {
  return new ConfidentialClientApplication({
    auth: {
      clientId: info.app_id,
      authority: info.authority,
      knownAuthorities: [host],
      clientCertificate: { thumbprintSha256, privateKey, x5c: certificatePem },
    },
  });
}

async function page(token) {
  let url = info.invoke_command_url;
  let mailboxes = 0;
  let pages = 0;
  while (url) {
    const response = await fetch(url, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${token}`,
        "Content-Type": "application/json",
        "X-AnchorMailbox": ANCHOR + info.tenant_id,
        "X-ResponseFormat": "json",
        Prefer: "odata.maxpagesize=1000",
      },
      body: JSON.stringify({
        CmdletInput: { CmdletName: "Get-Mailbox", Parameters: { ResultSize: "Unlimited" } },
      }),
    });
    if (response.status !== 200) fail(`page ${pages + 1}: ${response.status} ${await response.text()}`);
    const data = await response.json();
    pages += 1;
    mailboxes += data.value.length;
    url = data["@odata.nextLink"];
  }
  return { mailboxes, pages };
}

const app = msalApp(info.client_certificate_thumbprint_sha256);
const first = await app.acquireTokenByClientCredential({ scopes: [SCOPE] });
if (!first?.accessToken) fail(`msal-node: no token: ${JSON.stringify(first)}`);
// Inside msal's five-minute refresh margin already (60-second tokens), so
// the next call asks again, with the assertion msal-node kept.
const refreshed = await app.acquireTokenByClientCredential({ scopes: [SCOPE] });
if (!refreshed?.accessToken) fail("msal-node: no refreshed token");
if (refreshed.accessToken === first.accessToken) fail("msal-node served the near-expired token again");

const credential = new ClientCertificateCredential(
  info.tenant_id,
  info.app_id,
  { certificate: pem },
  { authorityHost: info.login_base, disableInstanceDiscovery: true },
);
const identityFirst = await credential.getToken(SCOPE);
const identitySecond = await credential.getToken(SCOPE);
if (!identityFirst?.token || !identitySecond?.token) fail("@azure/identity: no token");
if (identitySecond.token === identityFirst.token) fail("@azure/identity served the near-expired token again");

const msalPaging = await page(refreshed.accessToken);
const identityPaging = await page(identitySecond.token);

// A thumbprint the app has no certificate for.
let unknownKey = null;
try {
  await msalApp("00".repeat(32)).acquireTokenByClientCredential({ scopes: [SCOPE] });
  fail("msal-node: a token for a key the app does not have");
} catch (error) {
  unknownKey = {
    errorCode: error.errorCode,
    errorNo: String(error.errorNo ?? ""),
    status: error.status ?? null,
  };
}

console.log(
  JSON.stringify({
    msal_node_refreshed: true,
    azure_identity_refreshed: true,
    msal_node_mailboxes: msalPaging.mailboxes,
    msal_node_pages: msalPaging.pages,
    azure_identity_mailboxes: identityPaging.mailboxes,
    azure_identity_pages: identityPaging.pages,
    unknown_key: unknownKey,
  }),
);
