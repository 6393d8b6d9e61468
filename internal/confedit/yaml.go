package confedit

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// SetYAML sets the scalar at path (mapping keys from the root) to value, a
// YAML scalar written as it should appear. Only one line changes, or lines
// are added for keys that are missing; everything else stays byte for byte.
// Block mappings are required along the path: flow mappings ({...}) and
// multi-line scalars are refused rather than rewritten.
func SetYAML(text string, path []string, value string) (out string, err error) {
	defer refusePanic(&err)
	out, err = setYAML(text, path, value)
	if err != nil {
		return "", err
	}
	var v any
	if err := yaml.Unmarshal([]byte(value), &v); err != nil {
		return "", fmt.Errorf("value %q is not a YAML scalar: %w", value, err)
	}
	if err := sameExcept(text, out, path, v, true); err != nil {
		return "", err
	}
	return out, nil
}

// refusePanic turns a slip of the line arithmetic on a document shaped in a
// way not foreseen into a refusal: a config editor must not crash the
// command, and nothing has been written at this point.
func refusePanic(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("cannot edit this document safely (%v); edit it by hand", r)
	}
}

// sameExcept decodes before and after and checks that after is before with
// path set to v (or removed): the line edits are checked against the YAML
// meaning, so a document whose layout the editor misjudged is refused
// rather than changed in some other place.
func sameExcept(before, after string, path []string, v any, set bool) error {
	var b, a any
	if err := yaml.Unmarshal([]byte(before), &b); err != nil {
		return fmt.Errorf("not valid YAML: %w", err)
	}
	if err := yaml.Unmarshal([]byte(after), &a); err != nil {
		return fmt.Errorf("cannot edit this document safely (the result would not parse); edit it by hand")
	}
	m, ok := b.(map[string]any)
	var parent map[string]any
	for _, k := range path[:len(path)-1] {
		if !ok {
			break
		}
		parent = m
		next, isMap := m[k].(map[string]any)
		if !isMap {
			if m[k] != nil {
				ok = false
				break
			}
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	if ok {
		if set {
			m[path[len(path)-1]] = v
		} else {
			delete(m, path[len(path)-1])
			// A mapping left without keys reads back as null.
			if len(m) == 0 && parent != nil {
				parent[path[len(path)-2]] = nil
			}
		}
	}
	if !ok || !reflect.DeepEqual(a, b) {
		return fmt.Errorf("cannot edit this document safely (the result would change more than %s); edit it by hand", strings.Join(path, "."))
	}
	return nil
}

func setYAML(text string, path []string, value string) (string, error) {
	if len(path) == 0 {
		return "", fmt.Errorf("empty path")
	}
	lines, root, err := parseYAML(text)
	if err != nil {
		return "", err
	}
	unit := indentUnit(root)
	parent, parentKey := root, (*yaml.Node)(nil)
	for depth, seg := range path {
		last := depth == len(path)-1
		key, val := lookup(parent, seg)
		if key == nil {
			// Missing from here on: add the remaining keys as new lines.
			indent := childIndent(parent, parentKey, unit)
			var add []string
			for j, s := range path[depth:] {
				pad := strings.Repeat(" ", indent+j*unit)
				if depth+j == len(path)-1 {
					add = append(add, pad+s+": "+value)
				} else {
					add = append(add, pad+s+":")
				}
			}
			at := insertAfterLine(parent, parentKey, lines)
			return joinLines(insertLines(lines, at, add)), nil
		}
		if last {
			return replaceScalar(lines, key, val, value)
		}
		switch {
		case val.Kind == yaml.MappingNode && val.Style&yaml.FlowStyle == 0:
			parent, parentKey = val, key
		case isEmptyNull(val):
			parent, parentKey = &yaml.Node{Kind: yaml.MappingNode}, key
		default:
			return "", fmt.Errorf("%s is not a block mapping (line %d); edit it by hand", strings.Join(path[:depth+1], "."), key.Line)
		}
	}
	return "", fmt.Errorf("unreachable")
}

// DeleteYAML removes the line of the scalar at path; an absent key is no
// error.
func DeleteYAML(text string, path []string) (out string, err error) {
	defer refusePanic(&err)
	out, err = deleteYAML(text, path)
	if err != nil || out == text {
		return out, err
	}
	if err := sameExcept(text, out, path, nil, false); err != nil {
		return "", err
	}
	return out, nil
}

func deleteYAML(text string, path []string) (string, error) {
	lines, root, err := parseYAML(text)
	if err != nil {
		return "", err
	}
	node := root
	var key, val *yaml.Node
	for _, seg := range path {
		key, val = lookup(node, seg)
		if key == nil {
			return text, nil
		}
		node = val
	}
	if val.Kind != yaml.ScalarNode || val.Line != key.Line || val.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return "", fmt.Errorf("%s is not a one-line scalar (line %d); edit it by hand", strings.Join(path, "."), key.Line)
	}
	i := key.Line - 1
	out := slices.Delete(slices.Clone(lines), i, i+1)
	// Removing a last line that has no newline leaves none at the end either.
	if i > 0 && i == len(lines)-1 && !strings.HasSuffix(lines[i], "\n") {
		out[i-1] = strings.TrimSuffix(out[i-1], "\n")
	}
	return joinLines(out), nil
}

func parseYAML(text string) ([]string, *yaml.Node, error) {
	// YAML ends a line at a bare CR too; the line arithmetic here does not.
	if strings.Contains(strings.ReplaceAll(text, "\r\n", ""), "\r") {
		return nil, nil, fmt.Errorf("the document has carriage returns without a newline; edit it by hand")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil, nil, fmt.Errorf("not valid YAML: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode || doc.Content[0].Style&yaml.FlowStyle != 0 {
		return nil, nil, fmt.Errorf("the document is not a block mapping")
	}
	return strings.SplitAfter(text, "\n"), doc.Content[0], nil
}

func joinLines(lines []string) string { return strings.Join(lines, "") }

func lookup(m *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// isEmptyNull is a key with nothing after its colon ("ipvs:").
func isEmptyNull(v *yaml.Node) bool {
	return v.Kind == yaml.ScalarNode && v.Tag == "!!null" && v.Value == ""
}

// indentUnit is the indentation step of the document's first nested block
// mapping, 2 when there is none.
func indentUnit(root *yaml.Node) int {
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if v.Kind == yaml.MappingNode && v.Style&yaml.FlowStyle == 0 && len(v.Content) > 0 && v.Content[0].Column > k.Column {
			return v.Content[0].Column - k.Column
		}
	}
	return 2
}

// childIndent is the column (0-based) of parent's keys.
func childIndent(parent, parentKey *yaml.Node, unit int) int {
	if len(parent.Content) > 0 {
		return parent.Content[0].Column - 1
	}
	if parentKey == nil {
		return 0
	}
	return parentKey.Column - 1 + unit
}

// insertAfterLine is the 0-based index of the line after which new keys of
// parent go: after its last entry, or after its key when it has none.
func insertAfterLine(parent, parentKey *yaml.Node, lines []string) int {
	if len(parent.Content) == 0 {
		if parentKey == nil {
			return 0
		}
		return parentKey.Line
	}
	return entryEnd(parent.Content[len(parent.Content)-2], lines)
}

// entryEnd is the 1-based last line of the mapping entry whose key is key:
// the key's line and every following line indented deeper (nested
// mappings, block and multi-line scalars), or a sequence at the key's own
// indentation. Blank and comment lines extend it only when more of it
// follows. Node positions alone cannot tell where a multi-line scalar ends.
func entryEnd(key *yaml.Node, lines []string) int {
	end := key.Line
	for i := key.Line; i < len(lines); i++ {
		line := strings.TrimRight(lines[i], "\r\n")
		body := strings.TrimLeft(line, " ")
		if body == "" || strings.HasPrefix(body, "#") {
			continue
		}
		indent := len(line) - len(body)
		if indent > key.Column-1 || indent == key.Column-1 && (body == "-" || strings.HasPrefix(body, "- ")) {
			end = i + 1
			continue
		}
		break
	}
	return end
}

func insertLines(lines []string, after int, add []string) []string {
	if after > len(lines) {
		after = len(lines)
	}
	// New lines end like the document's lines.
	eol := "\n"
	if len(lines) > 0 && strings.HasSuffix(lines[0], "\r\n") {
		eol = "\r\n"
	}
	out := append([]string{}, lines[:after]...)
	// After a last line without a newline the new lines go on new lines,
	// and the document still ends without one.
	noFinal := after > 0 && !strings.HasSuffix(out[after-1], "\n")
	if noFinal {
		out[after-1] += eol
	}
	for _, l := range add {
		out = append(out, l+eol)
	}
	if noFinal {
		out[len(out)-1] = strings.TrimSuffix(out[len(out)-1], eol)
	}
	return append(out, lines[after:]...)
}

// replaceScalar swaps the text of a one-line scalar value for value, keeping
// what precedes it and any trailing comment.
func replaceScalar(lines []string, key, val *yaml.Node, value string) (string, error) {
	li := key.Line - 1
	line := strings.TrimRight(lines[li], "\r\n")
	nl := lines[li][len(line):]
	if val.Kind != yaml.ScalarNode || val.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return "", fmt.Errorf("%s (line %d) is not a one-line scalar; edit it by hand", key.Value, key.Line)
	}
	if val.Tag == "!!null" && val.Value == "" {
		// "key:" or "key: # comment": the value goes after the colon.
		c := strings.Index(line[key.Column-1:], ":")
		if c < 0 {
			return "", fmt.Errorf("line %d: cannot find the colon after %s", key.Line, key.Value)
		}
		at := key.Column - 1 + c + 1
		rest := line[at:]
		comment := ""
		if i := strings.Index(rest, "#"); i >= 0 {
			comment = " " + rest[i:]
		}
		lines[li] = line[:at] + " " + value + comment + nl
		return joinLines(lines), nil
	}
	if val.Line != key.Line {
		return "", fmt.Errorf("the value of %s is not on its key's line %d; edit it by hand", key.Value, key.Line)
	}
	start := val.Column - 1
	end, err := scalarEnd(line, start, val.Style)
	if err != nil {
		return "", fmt.Errorf("line %d: %w", key.Line, err)
	}
	lines[li] = line[:start] + value + line[end:] + nl
	return joinLines(lines), nil
}

// scalarEnd finds where the scalar starting at start ends on line.
func scalarEnd(line string, start int, style yaml.Style) (int, error) {
	switch {
	case style&yaml.DoubleQuotedStyle != 0:
		for i := start + 1; i < len(line); i++ {
			if line[i] == '\\' {
				i++
				continue
			}
			if line[i] == '"' {
				return i + 1, nil
			}
		}
		return 0, fmt.Errorf("unterminated double-quoted scalar")
	case style&yaml.SingleQuotedStyle != 0:
		for i := start + 1; i < len(line); i++ {
			if line[i] == '\'' {
				if i+1 < len(line) && line[i+1] == '\'' {
					i++
					continue
				}
				return i + 1, nil
			}
		}
		return 0, fmt.Errorf("unterminated single-quoted scalar")
	}
	end := len(line)
	if i := strings.Index(line[start:], " #"); i >= 0 {
		end = start + i
	}
	return start + len(strings.TrimRight(line[start:end], " \t")), nil
}
