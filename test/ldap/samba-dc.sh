#!/usr/bin/env bash
# A throwaway Samba AD domain controller for the LDAP connector tests: realm TEST.LOCAL (NetBIOS TEST),
# base DN DC=test,DC=local, listening on 127.0.0.1 only (LDAP 389 with StartTLS, LDAPS 636).
#
#   test/ldap/samba-dc.sh install          apt-get install the Samba AD DC packages (if samba-tool is missing)
#   test/ldap/samba-dc.sh start DIR        provision DIR (once) and start the DC; prints the CA file's path
#   test/ldap/samba-dc.sh seed DIR [N]     add the shared test org (N users, default 2000) under OU=People (once)
#   test/ldap/samba-dc.sh stop DIR         stop the DC started from DIR (and every process it spawned)
#   test/ldap/samba-dc.sh status DIR       exit 0 if the DC of DIR is running and answers LDAP
#
# Every command is idempotent and serialised by a lock on DIR/.lock, so parallel test processes and CI can
# all call `start` and `seed`. DIR/dc.json describes the running DC (URLs, DNs, generated passwords, CA
# path) for test/helpers/samba.ts. Samba's LDAP ports are fixed: one DC per machine (per loopback address).
set -euo pipefail

REALM=TEST.LOCAL
DOMAIN=TEST
BASE_DN='DC=test,DC=local'
PEOPLE_DN="OU=People,$BASE_DN"
ORG_DN="OU=Acme,$PEOPLE_DN"
SVC_SAM=svc-orgsync
SVC_DN="CN=$SVC_SAM,CN=Users,$BASE_DN"
ADMIN_DN="CN=Administrator,CN=Users,$BASE_DN"
LDAPS_URL=ldaps://127.0.0.1:636
STARTTLS_URL=ldap://127.0.0.1:389
START_TIMEOUT=${SAMBA_START_TIMEOUT:-30}
PACKAGES=(samba-ad-dc samba-ad-provision samba-dsdb-modules samba-vfs-modules ldb-tools ldap-utils krb5-user winbind)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

die() {
  echo "samba-dc.sh: $*" >&2
  exit 1
}
log() { echo "samba-dc.sh: $*" >&2; }

need_tools() {
  local t
  for t in samba samba-tool ldbadd ldbsearch ldapsearch openssl flock setsid; do
    command -v "$t" >/dev/null 2>&1 ||
      die "$t not found: run '$0 install' (apt-get install ${PACKAGES[*]})"
  done
}

cmd_install() {
  if command -v samba-tool >/dev/null 2>&1 && command -v ldapsearch >/dev/null 2>&1 &&
    command -v ldbadd >/dev/null 2>&1; then
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "installing ${PACKAGES[*]} needs root (apt-get)"
  command -v apt-get >/dev/null 2>&1 || die "no apt-get: install the Samba AD DC packages (${PACKAGES[*]}) yourself"
  local out
  out=$(mktemp)
  if ! DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$out" 2>&1; then
    cat "$out" >&2
    rm -f "$out"
    die "apt-get update failed (see above)"
  fi
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >"$out" 2>&1; then
    cat "$out" >&2
    rm -f "$out"
    die "apt-get install ${PACKAGES[*]} failed (see above)"
  fi
  rm -f "$out"
  command -v samba-tool >/dev/null 2>&1 || die "samba-tool still missing after apt-get install"
}

# --- state ---------------------------------------------------------------------------------------------

set_dir() {
  [ -n "${1:-}" ] || die "usage: $0 {start|stop|seed|status} DIR"
  mkdir -p "$1"
  DIR=$(cd "$1" && pwd)
  CONF="$DIR/samba/etc/smb.conf"
  SAM="$DIR/samba/private/sam.ldb"
  CA="$DIR/tls/ca.pem"
  LOG="$DIR/samba.log"
  PIDFILE="$DIR/run/dc.pid" # written by us: the session/process-group leader started by `start`
}

lock() {
  exec 9>"$DIR/.lock"
  flock -w 300 9 || die "timed out waiting for the lock on $DIR/.lock"
}

# The pid of our samba master process if it is running, else nothing.
samba_pid() {
  local pid
  [ -f "$PIDFILE" ] || return 0
  pid=$(tr -dc '0-9' <"$PIDFILE")
  [ -n "$pid" ] || return 0
  # samba rewrites its command line ("samba: root process"), so check the binary instead.
  if kill -0 "$pid" 2>/dev/null && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$(command -v samba)")" ]; then
    echo "$pid"
  fi
}

# Anonymous rootDSE read over LDAPS, trusting our CA (checks TLS, the certificate and the LDAP server).
ldap_answers() {
  LDAPTLS_CACERT="$CA" LDAPTLS_REQCERT=demand timeout 5 \
    ldapsearch -x -LLL -o nettimeout=3 -H "$LDAPS_URL" -b '' -s base highestCommittedUSN >/dev/null 2>&1
}

ldap_admin() { # ldapadd|ldapmodify|ldapdelete args...
  local tool=$1
  shift
  LDAPTLS_CACERT="$CA" LDAPTLS_REQCERT=demand "$tool" -x -H "$LDAPS_URL" -D "$ADMIN_DN" -y "$DIR/admin.pass" "$@"
}

random_password() { printf 'Os-%s-9Zq' "$(openssl rand -hex 12)"; }

unicode_pwd() { printf '"%s"' "$1" | iconv -f UTF-8 -t UTF-16LE | base64 -w0; }

make_tls() {
  local t="$DIR/tls"
  mkdir -p "$t"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 -subj "/O=orgsync tests/CN=orgsync test CA" \
    -keyout "$t/ca.key" -out "$t/ca.pem" \
    -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -sha256 -subj "/O=orgsync tests/CN=dc1.test.local" \
    -keyout "$t/server.key" -out "$t/server.csr" 2>/dev/null
  printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' \
    'extendedKeyUsage=serverAuth' 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:dc1.test.local,DNS:dc1' \
    >"$t/server.ext"
  openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" -CAcreateserial -days 3650 \
    -sha256 -extfile "$t/server.ext" -out "$t/server.pem" 2>/dev/null
  # Samba refuses a key file that others can read.
  chmod 600 "$t/ca.key" "$t/server.key"
  rm -f "$t/server.csr"
}

provision() {
  log "provisioning $REALM in $DIR"
  rm -rf "$DIR/samba" "$DIR/tls" "$DIR/run" "$DIR/state" "$DIR/dc.json" "$DIR/admin.pass" "$DIR/svc.pass"
  mkdir -p "$DIR/run" "$DIR/state"
  make_tls
  local admin_pw svc_pw out
  admin_pw=$(random_password)
  svc_pw=$(random_password)
  (
    umask 077
    printf '%s' "$admin_pw" >"$DIR/admin.pass"
    printf '%s' "$svc_pw" >"$DIR/svc.pass"
  )
  out=$(mktemp)
  if ! samba-tool domain provision --targetdir="$DIR/samba" --realm="$REALM" --domain="$DOMAIN" \
    --server-role=dc --dns-backend=NONE --use-rfc2307 --adminpass="$admin_pw" --host-name=dc1 \
    --host-ip=127.0.0.1 \
    --option="interfaces = 127.0.0.1" --option="bind interfaces only = yes" \
    --option="pid directory = $DIR/run" \
    --option="server services = ldap" --option="ldb:nosync = true" \
    --option="tls enabled = yes" --option="tls keyfile = $DIR/tls/server.key" \
    --option="tls certfile = $DIR/tls/server.pem" --option="tls cafile = $DIR/tls/ca.pem" \
    >"$out" 2>&1; then
    cat "$out" >&2
    rm -f "$out"
    die "samba-tool domain provision failed (see above)"
  fi
  rm -f "$out"

  # OU=People and the least-privilege bind account (a plain Domain User outside OU=People), written
  # straight into sam.ldb before the first start.
  cat >"$DIR/state/base.ldif" <<EOF
dn: $PEOPLE_DN
objectClass: organizationalUnit
ou: People
description: People synced by orgsync tests

dn: $SVC_DN
objectClass: user
sAMAccountName: $SVC_SAM
userPrincipalName: $SVC_SAM@test.local
displayName: orgsync service account
description: Least-privilege bind account for orgsync (a plain Domain User)
userAccountControl: 66048
unicodePwd:: $(unicode_pwd "$svc_pw")
EOF
  ldbadd -H "$SAM" "$DIR/state/base.ldif" >/dev/null || die "could not add OU=People and $SVC_SAM"
  rm -f "$DIR/state/base.ldif"

  local sid
  sid=$(ldbsearch -H "$SAM" -s base -b "$BASE_DN" objectSid 2>/dev/null | sed -n 's/^objectSid: //p')
  cat >"$DIR/dc.json" <<EOF
{
  "url": "$LDAPS_URL",
  "startTlsUrl": "$STARTTLS_URL",
  "caFile": "$CA",
  "baseDn": "$BASE_DN",
  "peopleDn": "$PEOPLE_DN",
  "peopleBaseDn": "$ORG_DN",
  "realm": "$REALM",
  "domain": "$DOMAIN",
  "domainSid": "$sid",
  "adminDn": "$ADMIN_DN",
  "adminPassword": "$admin_pw",
  "bindDn": "$SVC_DN",
  "bindUpn": "$SVC_SAM@test.local",
  "bindPassword": "$svc_pw"
}
EOF
  chmod 600 "$DIR/dc.json"
  touch "$DIR/state/provisioned"
}

cmd_start() {
  need_tools
  set_dir "${1:-}"
  lock
  local pid
  pid=$(samba_pid)
  if [ -n "$pid" ] && ldap_answers; then
    echo "$CA"
    return 0
  fi
  if [ -z "$pid" ] && [ -f "$CA" ] && ldap_answers; then
    die "another LDAP server answers on 127.0.0.1:636 (not the DC of $DIR): stop it first"
  fi
  [ -f "$DIR/state/provisioned" ] || provision
  if [ -z "$pid" ]; then
    rm -f "$PIDFILE"
    # Own session and process group: `stop` kills the group, so no child outlives the DC.
    TDB_NO_FSYNC=1 setsid samba -i -M single -s "$CONF" </dev/null >>"$LOG" 2>&1 9>&- &
    pid=$!
    echo "$pid" >"$PIDFILE"
  fi
  local deadline=$((SECONDS + START_TIMEOUT))
  until ldap_answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$LOG" >&2
      die "samba exited during start-up (log: $LOG)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 30 "$LOG" >&2
      die "samba did not answer LDAPS on 127.0.0.1:636 within ${START_TIMEOUT}s (log: $LOG)"
    fi
    sleep 0.2
  done
  echo "$CA"
}

cmd_stop() {
  need_tools
  set_dir "${1:-}"
  lock
  local pid pgid deadline
  pid=$(samba_pid)
  if [ -z "$pid" ]; then
    rm -f "$PIDFILE"
    return 0
  fi
  pgid=$(ps -o pgid= -p "$pid" | tr -d ' ')
  kill -TERM -- "-$pgid" 2>/dev/null || true
  deadline=$((SECONDS + 15))
  while pgrep -g "$pgid" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "samba did not stop within 15s: killing process group $pgid"
      kill -KILL -- "-$pgid" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
  rm -f "$PIDFILE"
}

cmd_status() {
  need_tools
  set_dir "${1:-}"
  [ -n "$(samba_pid)" ] && ldap_answers
}

cmd_seed() {
  need_tools
  set_dir "${1:-}"
  local users=${2:-${SAMBA_SEED_USERS:-2000}}
  lock
  [ -n "$(samba_pid)" ] && ldap_answers || die "the DC of $DIR is not running: run '$0 start $DIR' first"
  if [ -f "$DIR/state/seeded" ]; then
    return 0
  fi
  (cd "$ROOT" && node --import tsx test/helpers/samba-seed.ts --dir "$DIR" --users "$users") ||
    die "seeding failed"
  touch "$DIR/state/seeded"
}

case "${1:-}" in
install) cmd_install ;;
start) cmd_start "${2:-}" ;;
stop) cmd_stop "${2:-}" ;;
status) cmd_status "${2:-}" ;;
seed) cmd_seed "${2:-}" "${3:-}" ;;
*) die "usage: $0 install | start DIR | seed DIR [USERS] | stop DIR | status DIR" ;;
esac
