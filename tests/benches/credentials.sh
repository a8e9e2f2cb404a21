#!/bin/bash
# Medians of sign-in and rotation against one `exorun sim --managed-identity`:
# exorun connect with a certificate and with a managed identity (App Service
# form), and exorun cert rotate --remove-old (new RSA key, read, addKey,
# verified sign-in, profile switch, removeKey). Run with `make bench-credentials`.
set -e
cd "$(dirname "$0")/../.."
BIN=target/debug/exorun
W=$(mktemp -d /tmp/credbench.XXXX)
$BIN sim --managed-identity --mailboxes 10 --state-dir $W/sim --info $W/info.json > $W/sim.out 2>/dev/null &
SIM=$!
for i in $(seq 50); do [ -s $W/info.json ] && break; sleep 0.2; done
j() { python3 -c "import json,sys;print(json.load(open('$W/info.json'))['$1'])"; }
mkdir -p $W/certs && chmod 700 $W/certs
cp "$(j client_certificate_pfx)" $W/certs/app.pfx && chmod 600 $W/certs/app.pfx
j client_certificate_pfx_password > $W/certs/pw
cat > $W/config.toml <<T
[profiles.b]
organization = "$(j initial_domain)"
app-id = "$(j app_id)"
certificate-file-path = "$W/certs/app.pfx"
certificate-password-file = "$W/certs/pw"
authority = "$(j login_base)"
exchange-url = "$(j exchange_base)"
graph-url = "$(j graph_base)"
ca-file = "$(j ca_pem)"
T
export EXORUN_CONFIG=$W/config.toml XDG_STATE_HOME=$W/state EXORUN_AUDIT_LOG=$W/audit.jsonl
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
t() { local s=$EPOCHREALTIME; "$@" >/dev/null 2>&1 || echo "FAILED: $*" >&2; local e=$EPOCHREALTIME; awk -v s="$s" -v e="$e" 'BEGIN {printf "%.3f\n", e - s}'; }
N=${N:-7}
echo "binary: $BIN, runs: $N"
echo -n "connect, certificate:      "; for i in $(seq $N); do t $BIN connect --profile b; done | median
echo -n "connect, managed identity: "; for i in $(seq $N); do IDENTITY_ENDPOINT=$(j identity_endpoint) IDENTITY_HEADER=$(j identity_header) t $BIN connect --organization $(j initial_domain) --managed-identity --authority $(j login_base) --exchange-url $(j exchange_base) --ca-file $(j ca_pem); done | median
echo -n "cert rotate --remove-old:  "; for i in $(seq $N); do t $BIN cert rotate --profile b --remove-old; done | median
grep -c '"kind":"credential"' $W/audit.jsonl | sed 's/^/credential audit records: /'
curl -s --cacert $(j ca_pem) -H "Authorization: Bearer $(j control_key)" $(j login_base)/_sim/stats; echo
kill $SIM; wait $SIM 2>/dev/null || true
rm -rf $W
