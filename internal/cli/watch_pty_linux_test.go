package cli

import (
	"context"
	"errors"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair of cols columns: the CLI writes to
// the slave as to a terminal, the test reads what it wrote from the master.
func openPTY(t *testing.T, cols uint16) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	require.NoError(t, err)
	fd := int(m.Fd())
	require.NoError(t, unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0), "unlock the pseudo-terminal")
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	require.NoError(t, err)
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	require.NoError(t, err)
	require.NoError(t, unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: cols}))
	return m, s
}

var csiRE = regexp.MustCompile(`^\x1b\[(\??)(\d*)([A-Za-z])`)

// screen replays terminal output (CR, LF, cursor up, erase line, hide and
// show cursor; what watch emits) and returns the lines left on screen. It
// fails on any other control sequence, so the test notices new ones.
func screen(t *testing.T, out string) []string {
	t.Helper()
	var lines [][]rune
	row, col := 0, 0
	for i := 0; i < len(out); {
		for len(lines) <= row {
			lines = append(lines, nil)
		}
		switch c := out[i]; c {
		case '\r':
			col = 0
			i++
			continue
		case '\n':
			row++
			i++
			continue
		case 0x1b:
			m := csiRE.FindStringSubmatch(out[i:])
			require.NotNil(t, m, "unknown control sequence at %q", out[i:min(i+10, len(out))])
			n := 1
			if m[2] != "" {
				n, _ = strconv.Atoi(m[2])
			}
			switch {
			case m[1] == "?" && (m[3] == "l" || m[3] == "h") && n == 25:
			case m[3] == "A":
				row = max(row-n, 0)
			case m[3] == "K" && n == 2:
				lines[row] = nil
			default:
				t.Fatalf("unexpected control sequence %q", m[0])
			}
			i += len(m[0])
			continue
		}
		r := []rune(out[i:])[0]
		for len(lines[row]) <= col {
			lines[row] = append(lines[row], ' ')
		}
		lines[row][col] = r
		col++
		i += len(string(r))
	}
	outLines := make([]string, len(lines))
	for i, l := range lines {
		outLines[i] = strings.TrimRight(string(l), " ")
	}
	return outLines
}

func TestWatchTerminal(t *testing.T) {
	te := newTestEnv(t)
	te.terminal = fileTerminal // the real check: is the output a terminal?
	id := te.createExperiment("live")
	require.Equal(t, 0, te.run("experiment", "start", id).code)

	master, slave := openPTY(t, 120)
	defer master.Close()
	var tty syncBuffer
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		_, err := io.Copy(&tty, master)
		var pe *os.PathError
		if err != nil && !(errors.As(err, &pe) && errors.Is(pe.Err, syscall.EIO)) {
			t.Errorf("read the terminal: %v", err)
		}
	}()

	var errb syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- te.execute(context.Background(), strings.NewReader(""), slave, &errb, "experiment", "watch", id, "--interval", "10ms")
	}()
	driveExperiment(t, te, id, "promote", func(s string) bool { return strings.Contains(tty.String(), s) })
	select {
	case err := <-done:
		require.NoError(t, err, errb.String())
	case <-time.After(15 * time.Second):
		t.Fatal("watch did not end with the experiment")
	}
	require.NoError(t, slave.Close())
	<-readDone

	raw := tty.String()
	require.True(t, strings.HasPrefix(raw, ansiHideCursor), "the cursor is hidden while the view is live")
	require.True(t, strings.HasSuffix(raw, ansiShowCursor), "and shown again at the end")
	redraws := regexp.MustCompile(`\x1b\[\d+A`).FindAllString(raw, -1)
	require.GreaterOrEqual(t, len(redraws), 4, "each change is drawn over the previous frame")
	for _, s := range []string{"DEPLOYING", "RUNNING", "ANALYZING", "COMPLETED", "[============>", "Reduction so far"} {
		require.Contains(t, raw, s)
	}

	// What stays on screen is one frame, the final one, and the verdict.
	final := mask(strings.Join(screen(t, raw), "\n"))
	require.Equal(t, 1, strings.Count(final, "  live  ("), final)
	golden(t, "watch_terminal", final+"\n")
}
