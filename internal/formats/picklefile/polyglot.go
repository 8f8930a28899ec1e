package picklefile

import (
	"io"
	"strings"
	"unicode"

	"github.com/modelgate/modelgate/internal/pickle"
)

// loaderPickles is how many pickles a loader reads from byte 0: pickle.load
// reads one, torch.load's legacy path up to five (magic number, protocol,
// sys info, the object, storage keys), each after the previous one's STOP.
const loaderPickles = 5

// PickleReading is what a pickle loader would do with a file, decoded from
// byte 0 by the symbolic VM.
type PickleReading struct {
	Audit *Audit
	// Acts lists the importable globals a real load imports or calls
	// before anything makes it raise ("posix.system").
	Acts []string
	// Harmless is set when the first pickle reaches STOP cleanly without
	// importing anything: pickle.load returns a plain value.
	Harmless bool
}

// ReadAsPickle decodes r from byte 0 the way pickle.load and torch.load's
// legacy path would, for formats that may also be a pickle (polyglots:
// safetensors, TFLite). The safetensors length field is little-endian, so its
// low bytes can be any opcode; a handful of them (STRING with a '"' as the
// second byte, UNICODE, which read a whole line) swallow the rest of the
// length field and the JSON up to a newline, after which the data section
// is free for a payload. pickle.Sniff on the head is not enough to decide:
// it accepts any \x80\x0N start (header lengths 0x080, 0x180, … are common
// and harmless), and it does not see a payload that starts after a first
// opcode longer than its window. So the real decoding decides, and only
// what a load does before it raises counts.
func ReadAsPickle(r io.ReaderAt, size int64, opts Options) PickleReading {
	type act struct {
		pickle int
		path   string
	}
	var acts []act
	opts.MaxPickles = loaderPickles
	opts.OnEvent = func(e *pickle.Event) {
		if e.AfterError || e.Global == nil || len(acts) >= 1024 {
			return
		}
		if e.Kind != pickle.EventImport && e.Kind != pickle.EventCall {
			return
		}
		// CPython's find_class imports the module by name: a "module" read
		// out of JSON text ("\x04\x00…{", "  \"w\": {") raises there, so
		// only names that can be imported count.
		if importable(e.Global.RawModule) && importable(e.Global.RawName) {
			acts = append(acts, act{e.Pickle, e.Global.Path()})
		}
	}
	au := Run(r, 0, size, opts)
	res := au.Result
	// A later pickle is only read when every earlier one ended cleanly.
	reached := len(res.Pickles)
	for i, p := range res.Pickles {
		if !p.Complete || raises(res, i) {
			reached = i + 1
			break
		}
	}
	pr := PickleReading{Audit: au}
	seen := map[string]bool{}
	for _, a := range acts {
		if a.pickle < reached && !seen[a.path] {
			seen[a.path] = true
			pr.Acts = append(pr.Acts, a.path)
		}
	}
	pr.Harmless = len(pr.Acts) == 0 && len(res.Pickles) > 0 && res.Pickles[0].Complete && !raises(res, 0)
	return pr
}

// raises reports whether pickle i makes CPython's unpickler raise.
func raises(res *pickle.Result, i int) bool {
	for _, a := range res.Anomalies {
		if a.Pickle == i && (a.Kind == pickle.AnomalyLoaderError || a.Kind == pickle.AnomalyMalformed || a.Kind == pickle.AnomalyLimit) {
			return true
		}
	}
	return false
}

// importable reports whether s is a dotted path of Python identifiers.
func importable(s string) bool {
	if s == "" {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if part == "" {
			return false
		}
		for i, r := range part {
			if !(r == '_' || unicode.IsLetter(r) || i > 0 && unicode.IsDigit(r)) {
				return false
			}
		}
	}
	return true
}
