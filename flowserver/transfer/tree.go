package transfer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
)

// The document is read into a tree that remembers where each value stands, so that every
// problem can name its line: encoding/json alone reports byte offsets for some errors and
// none for others.

type kind int

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

func (k kind) String() string {
	return [...]string{"null", "a boolean", "a number", "a string", "an array", "an object"}[k]
}

// node is one JSON value.
type node struct {
	kind  kind
	off   int64  // input offset just past the value's first token: its line is the value's
	text  string // string value or number literal
	b     bool
	items []*node          // array
	keys  []string         // object keys in document order
	vals  map[string]*node // object members
}

// maxDepth bounds nesting; the format needs four levels.
const maxDepth = 16

// position turns input offsets into line:column.
type position struct{ lineStarts []int64 }

func newPosition(data []byte) position {
	starts := []int64{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, int64(i+1))
		}
	}
	return position{lineStarts: starts}
}

// line is the 1-based line of the byte before offset (a token ends there).
func (p position) line(off int64) int {
	if off > 0 {
		off--
	}
	return sort.Search(len(p.lineStarts), func(i int) bool { return p.lineStarts[i] > off })
}

// syntaxError is a document that is not JSON, or too deep, at a line.
type syntaxError struct {
	off int64
	msg string
}

func (e *syntaxError) Error() string { return e.msg }

// parseTree reads one JSON value and requires nothing but space after it.
func parseTree(data []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := parseValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &syntaxError{off: dec.InputOffset(), msg: "more data after the end of the JSON array"}
	}
	return n, nil
}

func parseValue(dec *json.Decoder, depth int) (*node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, tokenError(dec, err)
	}
	n := &node{off: dec.InputOffset()}
	switch v := tok.(type) {
	case nil:
		n.kind = kindNull
	case bool:
		n.kind, n.b = kindBool, v
	case json.Number:
		n.kind, n.text = kindNumber, string(v)
	case string:
		n.kind, n.text = kindString, v
	case json.Delim:
		if depth >= maxDepth {
			return nil, &syntaxError{off: n.off, msg: "nested too deeply"}
		}
		if v == '[' {
			n.kind = kindArray
			for dec.More() {
				item, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.items = append(n.items, item)
			}
		} else {
			n.kind, n.vals = kindObject, map[string]*node{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, tokenError(dec, err)
				}
				key, _ := kt.(string)
				if _, dup := n.vals[key]; dup {
					return nil, &syntaxError{off: dec.InputOffset(), msg: fmt.Sprintf("field %q appears twice", key)}
				}
				val, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, key)
				n.vals[key] = val
			}
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, tokenError(dec, err)
		}
	}
	return n, nil
}

func tokenError(dec *json.Decoder, err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return &syntaxError{off: se.Offset, msg: "not valid JSON: " + se.Error()}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &syntaxError{off: dec.InputOffset(), msg: "the JSON ends too early"}
	}
	return &syntaxError{off: dec.InputOffset(), msg: "not valid JSON: " + err.Error()}
}
