package ackconf

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// describeJSONError adds the line and column to a JSON syntax error, so that
// a finding can point at the broken spot of a ConfigMap key.
func describeJSONError(text string, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		line, col := lineCol(text, int(syn.Offset))
		return fmt.Errorf("line %d, column %d: %w", line, col, err)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		line, col := lineCol(text, int(typ.Offset))
		return fmt.Errorf("line %d, column %d: %w", line, col, err)
	}
	return err
}

func lineCol(text string, offset int) (int, int) {
	if offset > len(text) {
		offset = len(text)
	}
	if offset < 0 {
		offset = 0
	}
	before := text[:offset]
	line := strings.Count(before, "\n") + 1
	col := offset - strings.LastIndex(before, "\n")
	return line, col
}
