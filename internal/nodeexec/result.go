package nodeexec

import (
	"fmt"
	"strconv"
	"strings"
)

// A result pod runs the script as its own command and hands back what it
// printed through the pod itself, so reading a node costs no exec stream:
//
//   - stdout small enough goes into the termination message, which the
//     kubelet copies into the pod's status: the watch that tells the plugin
//     the pod finished carries the result, and no further request is needed;
//   - larger stdout is printed to the container log instead (one GET of
//     pods/log), and the termination message says how many bytes to expect.
//
// The termination message is at most 4,096 bytes per container (the
// kubelet's limit; it keeps the last 4,096 and the pod's total is 12 KiB), so
// the wrapper decides which way before writing. The script's stderr never
// mixes with its stdout: it goes to a file, whose last bytes ride in the
// message to explain a failure, counted so that they are never read as data.

// MessageLimit is what a termination message may hold: the kubelet's 4,096
// bytes.
const MessageLimit = 4096

// Environment of the wrapper (set in the pod spec; the rig's stand-in for
// the kubelet on simulated nodes points ResultFileEnv elsewhere).
const (
	ResultFileEnv   = "ACKNET_RESULT_FILE"
	MessageLimitEnv = "ACKNET_MESSAGE_LIMIT"
	// TerminationLog is the kubelet's default terminationMessagePath.
	TerminationLog = "/dev/termination-log"
)

// resultWrapper runs "$@" (the chroot argv of nodescripts.Command) and
// writes the result header, the last 512 bytes of stderr and, when it fits, stdout to
// $ACKNET_RESULT_FILE. It always exits 0: the script's status is in the
// header, and a pod that ends otherwise (killed, deadline) has no header.
// Its own stderr goes nowhere so the container log holds only stdout.
const resultWrapper = `exec 2>/dev/null
d="${TMPDIR:-/tmp}"
"$@" >"$d/acknet.out" 2>"$d/acknet.err" </dev/null
st=$?
tail -c 512 "$d/acknet.err" >"$d/acknet.errtail"
n=$(wc -c <"$d/acknet.out")
e=$(wc -c <"$d/acknet.errtail")
n=$((n + 0))
e=$((e + 0))
via=message
if [ $((n + e + 64)) -gt "${ACKNET_MESSAGE_LIMIT:-4096}" ]; then
	via=log
	cat "$d/acknet.out"
fi
{
	printf 'acknet-result\t1\t%d\t%s\t%d\t%d\n' "$st" "$via" "$n" "$e"
	cat "$d/acknet.errtail"
	if [ "$via" = message ]; then cat "$d/acknet.out"; fi
} >"${ACKNET_RESULT_FILE:-/dev/termination-log}"
rm -f "$d/acknet.out" "$d/acknet.err" "$d/acknet.errtail"
exit 0
`

// resultHeader is the first line of a result message.
type resultHeader struct {
	Status      int
	InLog       bool
	OutBytes    int
	StderrBytes int
}

// Ways a result reaches the plugin (Output.Via).
const (
	ViaMessage = "termination message"
	ViaLog     = "log"
	ViaExec    = "exec"
)

// parseResult splits a termination message into its header, the stderr
// tail, and stdout when it is in the message. A message not written by the
// wrapper, or cut short, is an error.
func parseResult(msg string) (h resultHeader, stderr, stdout string, err error) {
	line, rest, ok := strings.Cut(msg, "\n")
	f := strings.Split(line, "\t")
	if !ok || len(f) != 6 || f[0] != "acknet-result" || f[1] != "1" {
		if len(msg) >= MessageLimit {
			// The kubelet keeps the end of a longer message: the header is gone.
			return h, "", "", fmt.Errorf("no result header in a termination message of %d bytes (cut to the kubelet's limit)", len(msg))
		}
		return h, "", "", fmt.Errorf("no result in the termination message (the script did not finish)")
	}
	nums := make([]int, 0, 3)
	for _, s := range []string{f[2], f[4], f[5]} {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return h, "", "", fmt.Errorf("malformed result header %q", line)
		}
		nums = append(nums, v)
	}
	h = resultHeader{Status: nums[0], OutBytes: nums[1], StderrBytes: nums[2]}
	switch f[3] {
	case "message":
	case "log":
		h.InLog = true
	default:
		return h, "", "", fmt.Errorf("malformed result header %q", line)
	}
	if len(rest) < h.StderrBytes {
		return h, "", "", fmt.Errorf("result cut off: %d bytes of stderr announced, %d there", h.StderrBytes, len(rest))
	}
	stderr, rest = rest[:h.StderrBytes], rest[h.StderrBytes:]
	if h.InLog {
		return h, stderr, "", nil
	}
	if len(rest) != h.OutBytes {
		return h, "", "", fmt.Errorf("result cut off: %d bytes of output announced, %d in the termination message", h.OutBytes, len(rest))
	}
	return h, stderr, rest, nil
}
