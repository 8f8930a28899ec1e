// Package analyzer defines the contract between the scan engine and the
// format packages: what an analyser receives, what it returns, and the
// budgets that bound it. Format packages import this package; the engine
// imports the format packages through its explicit registry.
package analyzer

import (
	"context"
	"io"
	"sync"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/pickle"
)

// HeadSize is how many leading bytes Match receives (fewer for short data).
const HeadSize = 4096

// Input is one byte stream to analyse: a file, an archive member, a
// decompressed stream. Analysers read it only through R, and only the parts
// that can carry code.
type Input struct {
	Name string // file name or member name, for hints and messages only
	R    io.ReaderAt
	Size int64
	// Depth is 0 for a file given by the user, +1 for each level of nesting.
	Depth int
	// Open opens another file of the same repository, by a slash-separated
	// path relative to this file's directory (a Hugging Face config naming
	// its custom code files). Nil when the input has no such neighbours
	// (archive members, standard input). Implementations refuse paths that
	// leave the directory.
	Open func(rel string) (io.ReaderAt, int64, func() error, error)
	// Budget is shared by every input of one file: decompressed bytes and
	// archive members are drawn from it, so a bomb spread over many members
	// is stopped as surely as one in a single stream. Never nil when the
	// engine calls an analyser.
	Budget *Budget
}

// Budget is what one file may still cost. It is safe for concurrent use.
type Budget struct {
	mu           sync.Mutex
	bytes        int64
	members      int
	bytesLimit   int64
	membersLimit int
}

// NewBudget returns a budget with the file-wide limits of lim.
func NewBudget(lim Limits) *Budget {
	return &Budget{bytesLimit: lim.MaxTotalDecompressed, membersLimit: lim.MaxMembers}
}

// TakeBytes draws n decompressed bytes; false means the file's total
// decompression budget is spent (nothing is drawn then).
func (b *Budget) TakeBytes(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bytes+n > b.bytesLimit {
		return false
	}
	b.bytes += n
	return true
}

// TakeMember draws one archive member; false means the member budget is spent.
func (b *Budget) TakeMember() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.members >= b.membersLimit {
		return false
	}
	b.members++
	return true
}

// Analyzer understands one format family.
type Analyzer interface {
	// Format is the stable format id reported in JSON ("pickle", "gzip").
	Format() string
	// Match decides cheaply, from the name and the first bytes, whether this
	// analyser should handle the input. Content wins over names.
	Match(name string, head []byte) bool
	// Analyze reports findings and nested inputs into out. An error means
	// the input could not be fully analysed; what was found stays in out.
	Analyze(ctx context.Context, in Input, lim Limits, out *Output) error
}

// Nested is an input found inside another one, to be sniffed and analysed
// in turn.
type Nested struct {
	Name string // member name, appended to the member chain
	R    io.ReaderAt
	Size int64
	// Close releases resources (a temporary file); may be nil.
	Close func() error
	// Optional marks content that may legitimately be raw data in no known
	// format (a joblib sidecar array): if nothing recognises it, it is
	// skipped instead of being reported as not analysed.
	Optional bool
}

// Output collects what one analysis produced.
type Output struct {
	Findings []finding.Finding
	Nested   []Nested
	// Imports lists the globals the input's pickles import (for --verbose).
	Imports []string
	// Format may be set by an analyser to refine its format id (for example
	// "pickle" vs "pickle-multi"); empty keeps Format().
	Format string
}

// Add appends a finding.
func (o *Output) Add(f finding.Finding) { o.Findings = append(o.Findings, f) }

// Limits are every budget of a scan, in one place.
type Limits struct {
	Pickle pickle.Limits
	// MaxDepth is the deepest nesting of containers analysed.
	MaxDepth int
	// MaxDecompressed caps the bytes produced by one decompressed stream.
	MaxDecompressed int64
	// MaxRatio caps decompressed/compressed size once the output is past
	// RatioFloor bytes (archive bombs).
	MaxRatio   int64
	RatioFloor int64
	// MaxTotalDecompressed caps the decompressed bytes of all streams and
	// members of one file together.
	MaxTotalDecompressed int64
	// MaxMembers caps the archive members of one file, at every level.
	MaxMembers int
	// MaxInMemory is how much decompressed data is kept in memory before it
	// spills to a temporary file.
	MaxInMemory int64
	// MaxFindings caps the findings reported for one file.
	MaxFindings int
	// Catalogue is not a budget but travels with them to every analyser:
	// the knowledge tables with the policy's additions (nil: built-in).
	Catalogue *knowledge.Catalogue
}

// DefaultLimits returns the budgets used unless a policy says otherwise.
func DefaultLimits() Limits {
	return Limits{
		Pickle:               pickle.DefaultLimits(),
		MaxDepth:             8,
		MaxDecompressed:      16 << 30,
		MaxRatio:             1000,
		RatioFloor:           64 << 20,
		MaxTotalDecompressed: 64 << 30,
		MaxMembers:           100_000,
		MaxInMemory:          64 << 20, // per stream; nested levels add up, so keep it modest
		MaxFindings:          500,
	}
}
