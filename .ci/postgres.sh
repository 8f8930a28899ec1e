#!/bin/sh
# Throwaway PostgreSQL cluster for the gate store tests (internal/gate/store).
#
#   export MODELGATE_TEST_POSTGRES="$(.ci/postgres.sh start)"
#   go test ./internal/gate/store
#   .ci/postgres.sh stop
#
# Installs nothing: it needs a PostgreSQL server package (Debian:
# apt-get install postgresql), and uses its initdb and pg_ctl directly, so no
# system cluster or service is touched. The cluster lives in a temporary
# directory, listens on 127.0.0.1 only (port $MODELGATE_PG_PORT, default
# 55432) with trust authentication for loopback, and is removed by "stop".
# When run as root, the server runs as the "postgres" user.
# "start" prints only the DSN on stdout; progress goes to stderr.
set -eu

port="${MODELGATE_PG_PORT:-55432}"
db="${MODELGATE_PG_DB:-modelgate_test}"
state="${TMPDIR:-/tmp}/modelgate-postgres-$port.dir"

bindir() {
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	if [ -z "$d" ] || [ ! -x "$d/initdb" ]; then
		echo "postgres.sh: no /usr/lib/postgresql/*/bin/initdb; install postgresql first" >&2
		exit 1
	fi
	echo "$d"
}

# as_pg runs a command as the cluster owner.
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

start() {
	if [ -f "$state" ]; then
		echo "postgres.sh: a cluster is already running from $(cat "$state"); run '$0 stop' first" >&2
		exit 1
	fi
	bin=$(bindir)
	dir=$(mktemp -d "${TMPDIR:-/tmp}/modelgate-pg.XXXXXX")
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$dir"
	fi
	echo "$dir" >"$state"
	as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=reject --encoding=UTF8 --locale=C.UTF-8 >&2
	# Trust on loopback TCP only; everything else is refused (--auth=reject).
	cat >"$dir/pg_hba.conf" <<HBA
host all postgres 127.0.0.1/32 trust
HBA
	as_pg cp "$dir/pg_hba.conf" "$dir/data/pg_hba.conf"
	as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
		-o "-p $port -c listen_addresses=127.0.0.1 -k $dir -c fsync=off" start >&2 || {
		cat "$dir/server.log" >&2
		exit 1
	}
	as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
		-c "CREATE DATABASE $db" >&2
	echo "postgres://postgres@127.0.0.1:$port/$db?sslmode=disable"
}

stop() {
	if [ ! -f "$state" ]; then
		echo "postgres.sh: no cluster to stop ($state missing)" >&2
		return 0
	fi
	dir=$(cat "$state")
	bin=$(bindir)
	as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
	rm -rf "$dir" "$state"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*)
	echo "usage: $0 start|stop" >&2
	exit 2
	;;
esac
