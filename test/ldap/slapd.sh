#!/usr/bin/env bash
# A throwaway OpenLDAP server (Debian's slapd) for the LDAP connector's `generic` flavour tests:
# dc=example,dc=org in an mdb database, on 127.0.0.1 only (LDAP 3389 with StartTLS, LDAPS 3636, a
# certificate from our own CA), seeded with a small org under ou=Acme (OUs, inetOrgPerson users with
# managers, groupOfNames/groupOfUniqueNames groups).
#
#   test/ldap/slapd.sh [start] [DIR]   install slapd if missing, create DIR (once), start; prints DIR/slapd.json
#   test/ldap/slapd.sh stop [DIR]      stop the slapd started from DIR
#   test/ldap/slapd.sh status [DIR]    exit 0 if the slapd of DIR runs and answers LDAPS
#   test/ldap/slapd.sh install         apt-get install slapd ldap-utils (the system slapd stays off)
#
# DIR defaults to $ORGSYNC_SLAPD_DIR or /tmp/orgsync-slapd. `start` with the server up is a no-op (a DIR made
# by another version of this script is made again); commands are serialised by a lock on DIR/.lock.
# DIR/slapd.json describes the server for test/helpers/slapd.ts. The service account may read all but
# passwords, with no size limit; member, uniqueMember and manager values follow moves (refint overlay).
# A fresh directory: `test/ldap/slapd.sh stop && rm -rf /tmp/orgsync-slapd`.
set -euo pipefail

SUFFIX='dc=example,dc=org'
ORG_DN="ou=Acme,$SUFFIX"
ADMIN_DN="cn=admin,$SUFFIX"
ADMIN_PW=${ORGSYNC_SLAPD_ADMIN_PASSWORD:-orgsync-admin-secret}
SVC_DN="cn=orgsync,ou=Services,$SUFFIX"
SVC_PW=orgsync-service-secret
# A second read account whose searches the server caps at 5 entries (a size limit the tests meet).
LIMITED_DN="cn=orgsync-limited,ou=Services,$SUFFIX"
LDAP_PORT=${ORGSYNC_SLAPD_PORT:-3389}
LDAPS_PORT=${ORGSYNC_SLAPDS_PORT:-3636}
LDAP_URL="ldap://127.0.0.1:$LDAP_PORT"
LDAPS_URL="ldaps://127.0.0.1:$LDAPS_PORT"
START_TIMEOUT=${SLAPD_START_TIMEOUT:-20}
PACKAGES=(slapd ldap-utils openssl)
# Debian's slapd init script does not start the system slapd while this file exists.
SENTINEL=/etc/ldap/noslapd

die() {
  echo "slapd.sh: $*" >&2
  exit 1
}
log() { echo "slapd.sh: $*" >&2; }

have_tools() {
  local t
  for t in slapd slapadd slappasswd ldapsearch openssl flock; do
    command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || return 1
  done
}

# The system slapd that the package may have started (Debian's pidfile), stopped and disabled: Samba's
# DC owns 127.0.0.1:389 in CI, and ours runs on its own ports.
stop_system_slapd() {
  local pid
  pid=$(cat /run/slapd/slapd.pid 2>/dev/null | tr -dc '0-9' || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    log "stopping the system slapd ($pid) that the package started"
    if [ -x /etc/init.d/slapd ]; then /etc/init.d/slapd stop >/dev/null 2>&1 || true; fi
    kill -TERM "$pid" 2>/dev/null || true
  fi
  if command -v update-rc.d >/dev/null 2>&1 && [ -x /etc/init.d/slapd ]; then
    update-rc.d slapd disable >/dev/null 2>&1 || true
  fi
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now slapd >/dev/null 2>&1 || true
  fi
}

cmd_install() {
  export PATH="$PATH:/usr/sbin:/sbin"
  have_tools && return 0
  [ "$(id -u)" = 0 ] || die "installing ${PACKAGES[*]} needs root (apt-get)"
  command -v apt-get >/dev/null 2>&1 || die "no apt-get: install OpenLDAP's slapd and ldap-utils yourself"
  mkdir -p "$(dirname "$SENTINEL")"
  touch "$SENTINEL"
  local out
  out=$(mktemp)
  export DEBIAN_FRONTEND=noninteractive
  # Without package lists (a fresh machine), update once and try again.
  if ! apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >"$out" 2>&1; then
    if ! apt-get update -qq >>"$out" 2>&1 ||
      ! apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >>"$out" 2>&1; then
      cat "$out" >&2
      rm -f "$out"
      die "apt-get install ${PACKAGES[*]} failed (see above)"
    fi
  fi
  rm -f "$out"
  stop_system_slapd
  have_tools || die "slapd, slapadd, ldapsearch or openssl still missing after apt-get install"
}

# --- state ---------------------------------------------------------------------------------------------

set_dir() {
  mkdir -p "$1"
  DIR=$(cd "$1" && pwd)
  CONF="$DIR/slapd.conf"
  CA="$DIR/tls/ca.pem"
  PIDFILE="$DIR/run/slapd.pid"
  LOG="$DIR/slapd.log"
  INFO="$DIR/slapd.json"
}

lock() {
  exec 9>"$DIR/.lock"
  flock -w 120 9 || die "timed out waiting for the lock on $DIR/.lock"
}

# The pid of our slapd if it is running, else nothing.
slapd_pid() {
  local pid
  [ -f "$PIDFILE" ] || return 0
  pid=$(tr -dc '0-9' <"$PIDFILE")
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$(command -v slapd)")" ]; then
    echo "$pid"
  fi
}

# An anonymous rootDSE read over LDAPS, trusting our CA (TLS, the certificate and the server).
ldap_answers() {
  LDAPTLS_CACERT="$CA" LDAPTLS_REQCERT=demand timeout 5 \
    ldapsearch -x -LLL -o nettimeout=3 -H "$LDAPS_URL" -b '' -s base namingContexts >/dev/null 2>&1
}

b64() { printf '%s' "$1" | base64 -w0; }

make_tls() {
  local t="$DIR/tls"
  mkdir -p "$t"
  # EC keys: much quicker to make than RSA, and every TLS library here speaks them.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 -sha256 \
    -subj "/O=orgsync tests/CN=orgsync slapd test CA" -keyout "$t/ca.key" -out "$t/ca.pem" \
    -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 \
    -subj "/O=orgsync tests/CN=localhost" -keyout "$t/server.key" -out "$t/server.csr" 2>/dev/null
  printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature' \
    'extendedKeyUsage=serverAuth' 'subjectAltName=IP:127.0.0.1,DNS:localhost' >"$t/server.ext"
  openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" -CAcreateserial -days 3650 \
    -sha256 -extfile "$t/server.ext" -out "$t/server.pem" 2>/dev/null
  chmod 600 "$t/ca.key" "$t/server.key"
  rm -f "$t/server.csr" "$t/server.ext"
}

write_conf() {
  local admin_hash
  admin_hash=$(slappasswd -s "$ADMIN_PW")
  cat >"$CONF" <<EOF
# Written by test/ldap/slapd.sh: a throwaway test server, loopback only.
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema

pidfile $PIDFILE
argsfile $DIR/run/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload refint

TLSCACertificateFile $DIR/tls/ca.pem
TLSCertificateFile $DIR/tls/server.pem
TLSCertificateKeyFile $DIR/tls/server.key

# The rootDSE and the schema are public; userPassword only serves binds.
access to dn.base="" by * read
access to dn.base="cn=Subschema" by * read
access to attrs=userPassword by self write by anonymous auth by * none
access to dn.subtree="$SUFFIX" by self read by dn.exact="$SVC_DN" read by dn.exact="$LIMITED_DN" read by * none

database mdb
suffix "$SUFFIX"
rootdn "$ADMIN_DN"
rootpw $admin_hash
directory $DIR/data
maxsize 268435456
dbnosync
index objectClass,entryUUID,uid,mail eq
index modifyTimestamp eq
# The service account may page through everything; the limited one meets a size limit of 5.
limits dn.exact="$SVC_DN" size=unlimited
limits dn.exact="$LIMITED_DN" size=5
# Member and manager values follow moves and renames, and go with deleted entries (as on AD).
overlay refint
refint_attributes member uniqueMember manager
EOF
}

# The seeded org: OUs (one name with a comma, one non-ASCII, one with a second `ou` value listed first),
# a CEO, heads who report to the CEO, people who report to their heads, a device and a role that are not
# people, and groups (groupOfNames, one nested in another, and a groupOfUniqueNames).
seed_ldif() {
  local svc_hash limited_hash zurich o="$ORG_DN" retail="ou=Retail\\, Wholesale,$ORG_DN"
  svc_hash=$(slappasswd -s "$SVC_PW")
  limited_hash=$(slappasswd -s "$SVC_PW")
  zurich="$(printf 'ou=Z\xc3\xbcrich,%s' "$retail")"
  user() { # rdn-parent uid given sn title employeeNumber departmentNumber manager-uid-dn [mail]
    local parent=$1 uid=$2 given=$3 sn=$4 title=$5 number=$6 dept=$7 manager=$8
    printf 'dn:: %s\n' "$(b64 "uid=$uid,$parent")"
    printf 'objectClass: inetOrgPerson\nuid: %s\n' "$uid"
    printf 'cn:: %s\nsn:: %s\ngivenName:: %s\n' "$(b64 "$given $sn")" "$(b64 "$sn")" "$(b64 "$given")"
    printf 'displayName:: %s\n' "$(b64 "$given $sn")"
    printf 'mail: %s@example.org\ntitle: %s\nemployeeNumber: %s\n' "$uid" "$title" "$number"
    [ -z "$dept" ] || printf 'departmentNumber:: %s\n' "$(b64 "$dept")"
    [ -z "$manager" ] || printf 'manager:: %s\n' "$(b64 "$manager")"
    printf '\n'
  }
  local eng="ou=Engineering,$o" platform="ou=Platform,ou=Engineering,$o" data="ou=Data,ou=Engineering,$o"
  local fin="ou=Finance,$o"
  cat <<EOF
dn: $SUFFIX
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=Services,$SUFFIX
objectClass: organizationalUnit
ou: Services

dn: $SVC_DN
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: orgsync
description: orgsync's read-only bind account (outside the synced org)
userPassword: $svc_hash

dn: $LIMITED_DN
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: orgsync-limited
description: A read account the server caps at 5 entries per search
userPassword: $limited_hash

dn: $o
objectClass: organizationalUnit
ou: Acme

dn: $eng
objectClass: organizationalUnit
ou: Engineering

dn: $platform
objectClass: organizationalUnit
ou: Platform

dn: $data
objectClass: organizationalUnit
ou: Data

dn: $retail
objectClass: organizationalUnit
ou: Retail, Wholesale

dn:: $(b64 "$zurich")
objectClass: organizationalUnit
ou:: $(b64 "Zürich")

dn: $fin
objectClass: organizationalUnit
ou: Accounting
ou: Finance

dn: ou=Groups,$o
objectClass: organizationalUnit
ou: Groups

dn: cn=printer-3,$eng
objectClass: device
cn: printer-3
description: not a person

dn: cn=Reception,$o
objectClass: organizationalRole
cn: Reception

EOF
  user "$o" ada Ada Lovelace 'Chief Executive' E1000 '' ''
  user "$eng" grace Grace Hopper 'Head of Engineering' E1001 Engineering "uid=ada,$o"
  user "$eng" hedy Hedy Lamarr 'Principal Engineer' E1002 Engineering "uid=grace,$eng"
  user "$platform" linus Linus Torvalds 'Platform Lead' E1003 Engineering/Platform "uid=grace,$eng"
  user "$platform" ken Ken Thompson Engineer E1004 Engineering/Platform "uid=linus,$platform"
  user "$platform" dennis Dennis Ritchie Engineer E1005 Engineering/Platform "uid=linus,$platform"
  user "$data" margaret Margaret Hamilton 'Data Lead' E1006 Engineering/Data "uid=grace,$eng"
  user "$data" barbara Barbara Liskov Analyst E1007 Engineering/Data "uid=margaret,$data"
  user "$data" frances Frances Allen Analyst E1008 Engineering/Data "uid=margaret,$data"
  user "$retail" sofia Sofia Kovalevskaya 'Head of Retail' E1009 'Retail, Wholesale' "uid=ada,$o"
  user "$retail" sean "Seán" "O'Brien" 'Store Manager' E1010 'Retail, Wholesale' "uid=sofia,$retail"
  user "$zurich" jose José García 'Sales Associate' E1011 'Retail, Wholesale/Zürich' "uid=sofia,$retail"
  user "$zurich" soren Søren Kierkegaard 'Sales Associate' E1012 'Retail, Wholesale/Zürich' "uid=jose,$zurich"
  user "$fin" katherine Katherine Johnson 'Head of Finance' E1013 Finance "uid=ada,$o"
  user "$fin" emmy Emmy Noether Accountant E1014 Finance "uid=katherine,$fin"
  user "$fin" alan Alan Turing Controller E1015 Finance "uid=katherine,$fin"
  cat <<EOF
dn: cn=platform,ou=Groups,$o
objectClass: groupOfNames
cn: platform
description: The platform team
member: uid=linus,$platform
member: uid=ken,$platform
member: uid=dennis,$platform

dn: cn=engineering,ou=Groups,$o
objectClass: groupOfNames
cn: engineering
description: Everyone in engineering (the platform team nested)
member: uid=grace,$eng
member: uid=hedy,$eng
member: cn=platform,ou=Groups,$o
member: uid=margaret,$data
member: uid=barbara,$data

dn: cn=managers,ou=Groups,$o
objectClass: groupOfUniqueNames
cn: managers
uniqueMember: uid=ada,$o
uniqueMember: uid=grace,$eng
uniqueMember: uid=linus,$platform
uniqueMember: uid=margaret,$data
uniqueMember: uid=sofia,$retail
uniqueMember: uid=katherine,$fin

dn: cn=finance,ou=Groups,$o
objectClass: groupOfNames
cn: finance
member: uid=katherine,$fin
member: uid=emmy,$fin
member: uid=alan,$fin

EOF
}

provision() {
  log "creating $SUFFIX in $DIR"
  rm -rf "$DIR/data" "$DIR/tls" "$DIR/run" "$DIR/state" "$INFO" "$CONF"
  mkdir -p "$DIR/data" "$DIR/run" "$DIR/state"
  make_tls
  write_conf
  seed_ldif >"$DIR/state/seed.ldif"
  local out
  out=$(mktemp)
  if ! slapadd -f "$CONF" -q -l "$DIR/state/seed.ldif" >"$out" 2>&1; then
    cat "$out" >&2
    rm -f "$out"
    die "slapadd of the seed failed (see above)"
  fi
  rm -f "$out"
  cat >"$INFO" <<EOF
{
  "url": "$LDAPS_URL",
  "startTlsUrl": "$LDAP_URL",
  "caFile": "$CA",
  "suffix": "$SUFFIX",
  "orgDn": "$ORG_DN",
  "groupsDn": "ou=Groups,$ORG_DN",
  "adminDn": "$ADMIN_DN",
  "adminPassword": "$ADMIN_PW",
  "bindDn": "$SVC_DN",
  "bindPassword": "$SVC_PW",
  "limitedBindDn": "$LIMITED_DN",
  "limitedSizeLimit": 5
}
EOF
  echo "$VERSION" >"$DIR/state/provisioned"
}

cmd_start() {
  cmd_install
  set_dir "$1"
  lock
  local pid
  pid=$(slapd_pid)
  if [ -n "$pid" ] && [ "$(cat "$DIR/state/provisioned" 2>/dev/null)" = "$VERSION" ] && ldap_answers; then
    echo "$INFO"
    return 0
  fi
  if [ -z "$pid" ] && [ -f "$CA" ] && ldap_answers; then
    die "another LDAP server answers on 127.0.0.1:$LDAPS_PORT (not the slapd of $DIR): stop it first"
  fi
  if [ "$(cat "$DIR/state/provisioned" 2>/dev/null)" != "$VERSION" ]; then
    # Made by another version of this script (another seed or configuration): made again.
    if [ -n "$pid" ]; then
      stop_pid "$pid"
      pid=
    fi
    provision
  fi
  if [ -z "$pid" ]; then
    rm -f "$PIDFILE"
    # slapd detaches itself and writes the pidfile; the lock's descriptor must not go with it.
    slapd -f "$CONF" -h "$LDAP_URL/ $LDAPS_URL/" -s 0 9>&- >>"$LOG" 2>&1 ||
      {
        tail -n 30 "$LOG" >&2
        die "slapd did not start (log: $LOG; is port $LDAP_PORT or $LDAPS_PORT taken?)"
      }
  fi
  local deadline=$((SECONDS + START_TIMEOUT))
  until ldap_answers; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 30 "$LOG" >&2
      die "slapd did not answer on $LDAPS_URL within ${START_TIMEOUT}s (log: $LOG)"
    fi
    sleep 0.1
  done
  echo "$INFO"
}

stop_pid() {
  local pid=$1 deadline=$((SECONDS + 15))
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "slapd did not stop within 15s: killing $pid"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
  rm -f "$PIDFILE"
}

cmd_stop() {
  set_dir "$1"
  lock
  local pid
  pid=$(slapd_pid)
  [ -z "$pid" ] || stop_pid "$pid"
  rm -f "$PIDFILE"
}

cmd_status() {
  set_dir "$1"
  [ -n "$(slapd_pid)" ] && ldap_answers
}

export PATH="$PATH:/usr/sbin:/sbin"
# A state directory made by another version of this script is made again.
VERSION=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)
DEFAULT_DIR=${ORGSYNC_SLAPD_DIR:-/tmp/orgsync-slapd}
case "${1:-start}" in
start) cmd_start "${2:-$DEFAULT_DIR}" ;;
stop) cmd_stop "${2:-$DEFAULT_DIR}" ;;
status) cmd_status "${2:-$DEFAULT_DIR}" ;;
install) cmd_install ;;
*) die "usage: $0 [start [DIR]] | stop [DIR] | status [DIR] | install" ;;
esac
