# shellcheck shell=sh
# dns: DNS lookups from a test pod: over UDP with nslookup, over TCP with a
# query written here and sent with nc (busybox has no TCP resolver), and a
# lookup followed by a TCP connect to the first address (a headless Service).
#
# Arguments: records of five: PROTO (udp|tcp|connect) SERVER NAME TYPE (a|aaaa) PORT
#            (PORT is the connect port; 53 for lookups). Validated in Go.
# Environment:
#   TIMEOUT   seconds per try (default 3)
#   ATTEMPTS  tries before a lookup counts as failed (default 1)
# Output, one tab-separated record a line:
#   result  PROTO  SERVER  NAME  TYPE  ok|fail  MESSAGE
set -u
timeout="${TIMEOUT:-3}"
attempts="${ATTEMPTS:-1}"

# query NAME TYPE: the DNS query message, with TCP's two-byte length first.
query() {
	len=17 # header 12, the root label 1, type and class 4, and each label below
	labels=""
	old_ifs="$IFS"
	IFS=.
	for l in $1; do
		labels="$labels $l"
		len=$((len + ${#l} + 1))
	done
	IFS="$old_ifs"
	# Lengths become octal escapes: only digits reach the format.
	# shellcheck disable=SC2059
	printf "\\000\\$(printf '%03o' "$len")"
	printf '\022\064\001\000\000\001\000\000\000\000\000\000'
	for l in $labels; do
		# shellcheck disable=SC2059
		printf "\\$(printf '%03o' "${#l}")%s" "$l"
	done
	if [ "$2" = aaaa ]; then
		printf '\000\000\034\000\001'
	else
		printf '\000\000\001\000\001'
	fi
}

# tcp_lookup SERVER NAME TYPE: RCODE and answer count of the reply.
tcp_lookup() {
	bytes="$({
		query "$2" "$3"
		sleep 1
	} | nc -w "$timeout" "$1" 53 2>/dev/null | od -An -v -tu1)"
	# shellcheck disable=SC2086 # split the bytes on purpose
	set -- $bytes
	if [ $# -lt 12 ]; then
		echo "no answer over TCP"
		return 1
	fi
	# Skip the length (2) and the ID (2): flags, then QDCOUNT, ANCOUNT.
	rcode=$(($6 % 16))
	answers=$(($9 * 256 + ${10}))
	if [ "$rcode" -ne 0 ]; then
		echo "rcode $rcode"
		return 1
	fi
	echo "$answers answers"
	[ "$answers" -gt 0 ]
}

# udp_lookup SERVER NAME TYPE: prints the addresses found.
udp_lookup() {
	out="$(timeout "$((timeout + 1))" nslookup -type="$3" "$2" "$1" 2>&1)" || {
		printf '%s' "$out" | tr '\t\n' '  ' | cut -c1-200
		return 1
	}
	addrs="$(printf '%s\n' "$out" | sed -n '/^Name:/,$s/^Address:* *\([^ ]*\).*/\1/p')"
	if [ -z "$addrs" ]; then
		echo "no address in the answer"
		return 1
	fi
	printf '%s\n' "$addrs" | tr '\n' ' ' | sed 's/ $//'
}

# lookup PROTO SERVER NAME TYPE PORT: one record, tried up to ATTEMPTS
# times; one line out.
lookup() {
	proto="$1" server="$2" name="$3" type="$4" port="$5"
	try=0
	status=fail
	msg=""
	while [ "$try" -lt "$attempts" ] && [ "$status" = fail ]; do
		try=$((try + 1))
		case "$proto" in
		udp) msg="$(udp_lookup "$server" "$name" "$type")" && status=ok ;;
		tcp) msg="$(tcp_lookup "$server" "$name" "$type")" && status=ok ;;
		connect)
			if msg="$(udp_lookup "$server" "$name" "$type")"; then
				first="${msg%% *}"
				if out="$(nc -w "$timeout" "$first" "$port" -e true </dev/null 2>&1)"; then
					status=ok
					msg="$first:$port"
				else
					msg="$first:$port: $(printf '%s' "$out" | tr '\t\n' '  ')"
				fi
			fi
			;;
		esac
		[ "$status" = ok ] || [ "$try" -ge "$attempts" ] || sleep 1
	done
	printf 'result\t%s\t%s\t%s\t%s\t%s\t%s\n' "$proto" "$server" "$name" "$type" "$status" "$(printf '%s' "$msg" | tr '\t\n' '  ' | cut -c1-200)"
}

# Every record at once, as the probe does; the order of the lines is not kept.
while [ $# -ge 5 ]; do
	lookup "$1" "$2" "$3" "$4" "$5" &
	shift 5
done
wait
