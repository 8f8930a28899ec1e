package gguf

import (
	"errors"
	"fmt"

	controlStructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// tagSet maps a block tag name to its parser. It implements
// parser.ControlStructureGetter and is only read after initialisation, so
// one set serves every concurrent parse.
type tagSet map[string]parser.ControlStructureParser

// Get implements parser.ControlStructureGetter.
func (s tagSet) Get(name string) (parser.ControlStructureParser, bool) {
	p, ok := s[name]
	return p, ok
}

// templateTags are the tags the checker understands. gonja's parsers are
// used where they keep every expression in exported fields (so the walker
// can see it) and never touch the loader; the others are ours: set, with,
// block and filter keep their expressions in unexported fields in gonja,
// and gonja's extends reads the parent template from the loader while
// parsing. Ours record the target and load nothing. generation is the
// transformers extension that marks assistant output.
var templateTags = newTagSet()

func newTagSet() tagSet {
	s := tagSet{
		"set":        parseSet,
		"with":       parseWith,
		"block":      parseBlock,
		"filter":     parseFilterTag,
		"extends":    parseLoad("extends"),
		"include":    parseLoad("include"),
		"import":     parseLoad("import"),
		"from":       parseLoad("from"),
		"generation": parseWrapper("endgeneration"),
	}
	for _, name := range []string{"if", "for", "macro", "call", "do", "autoescape", "trans", "break", "continue", "raw"} {
		// A name gonja drops becomes an unknown tag: such templates fail to
		// parse and are scanned lexically, which is safe.
		if p, ok := controlStructures.All.Get(name); ok {
			s[name] = p
		}
	}
	return s
}

// setTag is {% set a, b = x, y %}, {% set ns.x = y if c else z %} or the
// block form {% set x | filter %}...{% endset %}.
type setTag struct {
	Loc     *tokens.Token
	Targets []nodes.Expression
	Values  []nodes.Expression // values, conditions and alternatives, in order
	Filters []*nodes.FilterCall
	Body    *nodes.Wrapper
}

// withTag is {% with a = x, b = y %}...{% endwith %}.
type withTag struct {
	Loc    *tokens.Token
	Names  []string
	Values []nodes.Expression
	Body   *nodes.Wrapper
}

// blockTag is {% block name %}...{% endblock %}.
type blockTag struct {
	Loc  *tokens.Token
	Name string
	Body *nodes.Wrapper
}

// filterTag is {% filter f | g %}...{% endfilter %}.
type filterTag struct {
	Loc     *tokens.Token
	Filters []*nodes.FilterCall
	Body    *nodes.Wrapper
}

// loadTag is {% extends %}, {% include %}, {% import %} or {% from %}:
// a template (a file, for a filesystem loader) loaded while rendering.
type loadTag struct {
	Loc    *tokens.Token
	Kind   string
	Target nodes.Expression
}

// wrapperTag is a tag that only wraps a body ({% generation %}).
type wrapperTag struct {
	Loc  *tokens.Token
	Body *nodes.Wrapper
}

func (t *setTag) Position() *tokens.Token     { return t.Loc }
func (t *setTag) String() string              { return "set" }
func (t *withTag) Position() *tokens.Token    { return t.Loc }
func (t *withTag) String() string             { return "with" }
func (t *blockTag) Position() *tokens.Token   { return t.Loc }
func (t *blockTag) String() string            { return "block " + t.Name }
func (t *filterTag) Position() *tokens.Token  { return t.Loc }
func (t *filterTag) String() string           { return "filter" }
func (t *loadTag) Position() *tokens.Token    { return t.Loc }
func (t *loadTag) String() string             { return t.Kind }
func (t *wrapperTag) Position() *tokens.Token { return t.Loc }
func (t *wrapperTag) String() string          { return "wrapper" }

func parseSet(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
	t := &setTag{Loc: args.Current()}
	for {
		target, err := args.ParseVariableOrLiteral()
		if err != nil {
			return nil, fmt.Errorf("set target: %w", err)
		}
		t.Targets = append(t.Targets, target)
		if args.Match(tokens.Comma) == nil {
			break
		}
	}
	if args.Match(tokens.Assign) != nil {
		for {
			v, err := args.ParseExpression()
			if err != nil {
				return nil, err
			}
			t.Values = append(t.Values, v)
			cond, alt, err := args.ParseCondition()
			if err != nil {
				return nil, err
			}
			for _, e := range []nodes.Expression{cond, alt} {
				if e != nil {
					t.Values = append(t.Values, e)
				}
			}
			if args.Match(tokens.Comma) == nil {
				break
			}
		}
		if !args.End() {
			return nil, args.Error("malformed set tag", args.Current())
		}
		return t, nil
	}
	for args.Match(tokens.Pipe) != nil {
		f, err := args.ParseFilter()
		if err != nil {
			return nil, err
		}
		t.Filters = append(t.Filters, f)
	}
	if !args.End() {
		return nil, args.Error("expected '=' or the end of a block set", args.Current())
	}
	body, end, err := p.WrapUntil("endset")
	if err != nil {
		return nil, err
	}
	if !end.End() {
		return nil, errors.New("endset takes no arguments")
	}
	t.Body = body
	return t, nil
}

func parseWith(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
	t := &withTag{Loc: args.Current()}
	for !args.End() {
		name := args.Match(tokens.Name)
		if name == nil || args.Match(tokens.Assign) == nil {
			return nil, args.Error("expected name = value", args.Current())
		}
		v, err := args.ParseExpression()
		if err != nil {
			return nil, err
		}
		t.Names, t.Values = append(t.Names, name.Val), append(t.Values, v)
		if args.Match(tokens.Comma) == nil {
			break
		}
	}
	if !args.End() {
		return nil, args.Error("malformed with tag", args.Current())
	}
	body, _, err := p.WrapUntil("endwith")
	if err != nil {
		return nil, err
	}
	t.Body = body
	return t, nil
}

func parseBlock(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
	name := args.Match(tokens.Name)
	if name == nil {
		return nil, args.Error("block needs a name", args.Current())
	}
	for args.MatchName("scoped", "required") != nil {
		// Modifiers change scoping, not what runs.
	}
	if !args.End() {
		return nil, args.Error("malformed block tag", args.Current())
	}
	body, _, err := p.WrapUntil("endblock")
	if err != nil {
		return nil, err
	}
	return &blockTag{Loc: name, Name: name.Val, Body: body}, nil
}

func parseFilterTag(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
	t := &filterTag{Loc: args.Current()}
	for !args.End() {
		f, err := args.ParseFilter()
		if err != nil {
			return nil, err
		}
		t.Filters = append(t.Filters, f)
		if args.Match(tokens.Pipe) == nil {
			break
		}
	}
	if !args.End() {
		return nil, args.Error("malformed filter tag", args.Current())
	}
	body, _, err := p.WrapUntil("endfilter")
	if err != nil {
		return nil, err
	}
	t.Body = body
	return t, nil
}

// parseLoad parses the tags that load another template. The target is
// kept as an expression; nothing is loaded.
func parseLoad(kind string) parser.ControlStructureParser {
	return func(_ *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
		t := &loadTag{Loc: args.Current(), Kind: kind}
		target, err := args.ParseExpression()
		if err != nil {
			return nil, err
		}
		t.Target = target
		// The rest (ignore missing, with context, as x, import a as b, c)
		// names things; it cannot run code.
		for !args.End() {
			if args.Match(tokens.Name, tokens.Comma) == nil {
				return nil, args.Error("malformed "+kind+" tag", args.Current())
			}
		}
		return t, nil
	}
}

// parseWrapper parses an argument-less tag that wraps a body up to end.
func parseWrapper(end string) parser.ControlStructureParser {
	return func(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
		t := &wrapperTag{Loc: args.Current()}
		if !args.End() {
			return nil, args.Error("this tag takes no arguments", args.Current())
		}
		body, _, err := p.WrapUntil(end)
		if err != nil {
			return nil, err
		}
		t.Body = body
		return t, nil
	}
}
