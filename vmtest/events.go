package vmtest

import (
	"bufio"
	"encoding/base64"
	"io"
	"strings"
)

// The guest's test binary runs with -test.v=test2json: framing lines (test
// starts, results, switches between tests) start with the byte 0x16, and
// every other line is output of the test named by the last framing line.
// This is the stream cmd/test2json parses (see its documentation); only the
// parts vmtest needs are read here.

const marker = "\x16"

// record is one run of one test (a test run -count=2 times has two).
type record struct {
	name string
	// action is "pass", "fail" or "skip"; "" means the test never
	// finished (the guest ended while it ran).
	action string
	items  []item
}

// item is an output line or a subtest started at that point.
type item struct {
	line  string
	child *record
}

// events are the parsed output of one guest run.
type events struct {
	byName map[string][]*record
	// lastRun is the last test that started: the one that crashed the
	// binary if it ended early.
	lastRun *record
	// finished: the final PASS/FAIL line came, the binary was not cut off.
	finished bool
	// cover holds coverage files the guest sent (name -> contents).
	cover map[string][]byte
}

// coverPrefix starts a coverage file line from Main in the guest.
const coverPrefix = marker + "vmtest-cover "

func parseEvents(r io.Reader) *events {
	ev := &events{byName: make(map[string][]*record), cover: make(map[string][]byte)}
	var running []*record // started and not finished, in start order
	latest := func(name string) *record {
		if rs := ev.byName[name]; len(rs) > 0 {
			return rs[len(rs)-1]
		}
		return nil
	}
	var cur *record
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, coverPrefix); ok {
			name, b64, _ := strings.Cut(rest, " ")
			if b, err := base64.StdEncoding.DecodeString(b64); err == nil {
				ev.cover[name] = b
			}
			continue
		}
		frame, ok := strings.CutPrefix(line, marker)
		if !ok {
			if cur != nil {
				cur.items = append(cur.items, item{line: line})
			}
			continue
		}
		// "=== RUN   name", "=== NAME  name": the name follows the verb.
		_, name, _ := strings.Cut(strings.TrimPrefix(frame, "=== "), " ")
		name = strings.TrimSpace(name)
		switch {
		case strings.HasPrefix(frame, "=== RUN"):
			rec := &record{name: name}
			// The parent is the innermost running test whose name
			// prefixes this one (names may contain '/').
			var parent *record
			for _, p := range running {
				if strings.HasPrefix(name, p.name+"/") && (parent == nil || len(p.name) > len(parent.name)) {
					parent = p
				}
			}
			if parent != nil {
				parent.items = append(parent.items, item{child: rec})
			}
			ev.byName[name] = append(ev.byName[name], rec)
			running = append(running, rec)
			ev.lastRun, cur = rec, rec
		case strings.HasPrefix(frame, "=== PAUSE"), strings.HasPrefix(frame, "=== CONT"), strings.HasPrefix(frame, "=== NAME"):
			cur = latest(name)
		case strings.HasPrefix(frame, "--- PASS:"), strings.HasPrefix(frame, "--- FAIL:"), strings.HasPrefix(frame, "--- SKIP:"):
			action := strings.ToLower(frame[4:8])
			name := strings.TrimSpace(frame[len("--- PASS:"):])
			// The elapsed time ends the line: "--- PASS: TestX (0.01s)".
			if i := strings.LastIndex(name, " ("); i >= 0 {
				name = name[:i]
			}
			if rec := latest(name); rec != nil {
				rec.action, cur = action, rec
				for i, p := range running {
					if p == rec {
						running = append(running[:i], running[i+1:]...)
						break
					}
				}
			}
		case frame == "PASS" || frame == "FAIL" || strings.HasPrefix(frame, "ok"):
			ev.finished, cur = true, nil
		}
	}
	return ev
}

// take returns the next unreplayed run of the test called name.
func (ev *events) take(name string) *record {
	rs := ev.byName[name]
	if len(rs) == 0 {
		return nil
	}
	ev.byName[name] = rs[1:]
	return rs[0]
}
