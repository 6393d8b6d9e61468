// Package confedit makes minimal textual edits to the JSON and YAML documents
// kept in ConfigMaps: only the bytes of the field that changes are touched, so
// key order, comments, indentation and the rest of the formatting survive and
// a diff shows exactly one change. Decoding and re-encoding would re-sort keys
// and reformat the whole document.
package confedit

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// JSONDoc is a parsed JSON document that records edits as byte-range
// replacements of the original text.
type JSONDoc struct {
	text  string
	root  *JSONValue
	edits []edit
	// added counts members inserted per object, so a second insertion into
	// an empty object gets its comma.
	added map[*JSONValue]int
}

// JSONValue is one value of the document with its byte span.
type JSONValue struct {
	Kind    byte // '{', '[', '"', 'n' (number), 't', 'f', 'l' (null)
	start   int
	end     int // exclusive
	members []jsonMember
	elems   []*JSONValue
}

type jsonMember struct {
	key      string
	keyStart int
	keyEnd   int
	value    *JSONValue
}

type edit struct {
	start, end int
	text       string
	seq        int
}

// ParseJSON parses text, which must be valid JSON.
func ParseJSON(text string) (*JSONDoc, error) {
	if !json.Valid([]byte(text)) {
		var v any
		err := json.Unmarshal([]byte(text), &v)
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	p := &jsonParser{s: text}
	p.ws()
	root, err := p.value()
	if err != nil {
		return nil, err
	}
	return &JSONDoc{text: text, root: root, added: map[*JSONValue]int{}}, nil
}

// Root is the top-level value.
func (d *JSONDoc) Root() *JSONValue { return d.root }

// Get returns the member value of an object, nil if absent or not an object.
func (v *JSONValue) Get(key string) *JSONValue {
	if v == nil || v.Kind != '{' {
		return nil
	}
	for _, m := range v.members {
		if m.key == key {
			return m.value
		}
	}
	return nil
}

// Elems returns the elements of an array.
func (v *JSONValue) Elems() []*JSONValue {
	if v == nil {
		return nil
	}
	return v.elems
}

// Raw is the value's text in doc.
func (d *JSONDoc) Raw(v *JSONValue) string { return d.text[v.start:v.end] }

// String decodes a string value; "" for other kinds.
func (d *JSONDoc) String(v *JSONValue) string {
	if v == nil || v.Kind != '"' {
		return ""
	}
	var s string
	_ = json.Unmarshal([]byte(d.Raw(v)), &s)
	return s
}

// Set gives key of object obj the JSON value raw: it replaces the value's
// bytes when the key exists, else inserts a member after the member named
// after (when present) or after the last one, in the object's own style.
func (d *JSONDoc) Set(obj *JSONValue, key, raw, after string) error {
	if obj == nil || obj.Kind != '{' {
		return fmt.Errorf("cannot set %q: not inside a JSON object", key)
	}
	for _, m := range obj.members {
		if m.key == key {
			d.add(m.value.start, m.value.end, raw)
			return nil
		}
	}
	qkey, _ := json.Marshal(key)
	member := string(qkey) + d.colon(obj) + raw
	if len(obj.members) == 0 {
		pos := obj.start + 1
		if d.added[obj] > 0 {
			member = ", " + member
		}
		d.added[obj]++
		d.add(pos, pos, member)
		return nil
	}
	at := obj.members[len(obj.members)-1]
	for _, m := range obj.members {
		if m.key == after {
			at = m
		}
	}
	d.added[obj]++
	d.add(at.value.end, at.value.end, d.separator(obj)+member)
	return nil
}

// Delete removes key from obj together with one adjoining comma; absent keys
// are no error.
func (d *JSONDoc) Delete(obj *JSONValue, key string) error {
	if obj == nil || obj.Kind != '{' {
		return fmt.Errorf("cannot delete %q: not inside a JSON object", key)
	}
	for i, m := range obj.members {
		if m.key != key {
			continue
		}
		switch {
		case i+1 < len(obj.members):
			d.add(m.keyStart, obj.members[i+1].keyStart, "")
		case i > 0:
			d.add(obj.members[i-1].value.end, m.value.end, "")
		default:
			d.add(m.keyStart, m.value.end, "")
		}
		return nil
	}
	return nil
}

// Result applies the recorded edits to the original text.
func (d *JSONDoc) Result() string {
	es := append([]edit(nil), d.edits...)
	// From the end backwards so earlier offsets stay valid; at one position
	// the later edit goes first so that the earlier one ends up in front.
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].start != es[j].start {
			return es[i].start > es[j].start
		}
		return es[i].seq > es[j].seq
	})
	out := d.text
	for _, e := range es {
		out = out[:e.start] + e.text + out[e.end:]
	}
	return out
}

func (d *JSONDoc) add(start, end int, text string) {
	d.edits = append(d.edits, edit{start: start, end: end, text: text, seq: len(d.edits)})
}

// colon is the text between a key and its value in obj, or in the document's
// first object that has members.
func (d *JSONDoc) colon(obj *JSONValue) string {
	for _, o := range []*JSONValue{obj, d.root} {
		if o != nil && o.Kind == '{' && len(o.members) > 0 {
			m := o.members[len(o.members)-1]
			return d.text[m.keyEnd:m.value.start]
		}
	}
	return ": "
}

// separator is what goes between two members of obj: the comma plus the
// line break and indentation of the last member when the object spans lines.
func (d *JSONDoc) separator(obj *JSONValue) string {
	n := len(obj.members)
	if n >= 2 {
		return d.text[obj.members[n-2].value.end:obj.members[n-1].keyStart]
	}
	between := d.text[obj.start+1 : obj.members[0].keyStart]
	if i := strings.LastIndexByte(between, '\n'); i >= 0 {
		return "," + between[i:]
	}
	return ", "
}

type jsonParser struct {
	s string
	i int
}

func (p *jsonParser) ws() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *jsonParser) value() (*JSONValue, error) {
	if p.i >= len(p.s) {
		return nil, fmt.Errorf("unexpected end of JSON")
	}
	v := &JSONValue{start: p.i}
	switch c := p.s[p.i]; c {
	case '{':
		v.Kind = '{'
		p.i++
		p.ws()
		for p.i < len(p.s) && p.s[p.i] != '}' {
			ks := p.i
			if err := p.str(); err != nil {
				return nil, err
			}
			var key string
			_ = json.Unmarshal([]byte(p.s[ks:p.i]), &key)
			ke := p.i
			p.ws()
			p.i++ // ':'
			p.ws()
			mv, err := p.value()
			if err != nil {
				return nil, err
			}
			v.members = append(v.members, jsonMember{key: key, keyStart: ks, keyEnd: ke, value: mv})
			p.ws()
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
				p.ws()
			}
		}
		p.i++
	case '[':
		v.Kind = '['
		p.i++
		p.ws()
		for p.i < len(p.s) && p.s[p.i] != ']' {
			ev, err := p.value()
			if err != nil {
				return nil, err
			}
			v.elems = append(v.elems, ev)
			p.ws()
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
				p.ws()
			}
		}
		p.i++
	case '"':
		v.Kind = '"'
		if err := p.str(); err != nil {
			return nil, err
		}
	case 't', 'f':
		v.Kind = c
		p.i += map[byte]int{'t': 4, 'f': 5}[c]
	case 'n':
		v.Kind = 'l'
		p.i += 4
	default:
		v.Kind = 'n'
		for p.i < len(p.s) && strings.IndexByte("+-0123456789.eE", p.s[p.i]) >= 0 {
			p.i++
		}
	}
	v.end = p.i
	return v, nil
}

func (p *jsonParser) str() error {
	if p.i >= len(p.s) || p.s[p.i] != '"' {
		return fmt.Errorf("expected a string at offset %d", p.i)
	}
	p.i++
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case '\\':
			p.i += 2
		case '"':
			p.i++
			return nil
		default:
			p.i++
		}
	}
	return fmt.Errorf("unterminated string")
}
